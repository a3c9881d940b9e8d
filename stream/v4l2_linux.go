//go:build linux && (amd64 || arm64 || arm || 386 || riscv64)

package stream

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// V4L2 capture through memory-mapped buffers, with the few ioctls it needs declared here (the
// build is CGO_ENABLED=0, so no kernel headers). The structs mirror <linux/videodev2.h>; their
// sizes, and so the ioctl numbers, differ between 32- and 64-bit ABIs, which the layout below
// reproduces (tests check both against the kernel's numbers). The ioctl number encoding is the
// generic one, hence the architectures in the build constraint.

const (
	bufTypeVideoCapture = 1
	memoryMMAP          = 1
	fieldAny            = 0
	capVideoCapture     = 0x00000001
	capStreaming        = 0x04000000
	capDeviceCaps       = 0x80000000
	bufFlagError        = 0x00000040

	// v4l2Buffers is how many buffers the driver fills in turn: enough that a frame being
	// copied out never makes the camera drop one.
	v4l2Buffers = 4
)

// fourcc builds a V4L2 pixel format code.
func fourcc(s string) uint32 {
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// fourccString is the inverse of fourcc, for messages.
func fourccString(f uint32) string {
	return string([]byte{byte(f), byte(f >> 8), byte(f >> 16), byte(f >> 24)})
}

var (
	pixYUYV = fourcc("YUYV")
	pixMJPG = fourcc("MJPG")
	pixJPEG = fourcc("JPEG") // what some drivers call MJPEG
)

type v4l2Capability struct {
	Driver       [16]byte
	Card         [32]byte
	BusInfo      [32]byte
	Version      uint32
	Capabilities uint32
	DeviceCaps   uint32
	Reserved     [3]uint32
}

type v4l2FmtDesc struct {
	Index       uint32
	Type        uint32
	Flags       uint32
	Description [32]byte
	PixelFormat uint32
	MbusCode    uint32
	Reserved    [3]uint32
}

type v4l2PixFormat struct {
	Width, Height, PixelFormat, Field, BytesPerLine, SizeImage uint32
	Colorspace, Priv, Flags, YCbCrEnc, Quantization, XferFunc  uint32
}

type v4l2Format struct {
	Type uint32
	Fmt  v4l2FormatUnion
}

// v4l2FormatUnion is the 200-byte union of struct v4l2_format. One of its members holds
// pointers, so in C it is pointer-aligned: at offset 8 on 64-bit, 4 on 32-bit.
type v4l2FormatUnion struct {
	_   [0]uintptr
	Pix v4l2PixFormat
	_   [200 - unsafe.Sizeof(v4l2PixFormat{})]byte
}

type v4l2Fract struct{ Numerator, Denominator uint32 }

type v4l2StreamParm struct {
	Type    uint32
	Capture v4l2CaptureParm
	_       [200 - unsafe.Sizeof(v4l2CaptureParm{})]byte
}

type v4l2CaptureParm struct {
	Capability   uint32
	CaptureMode  uint32
	TimePerFrame v4l2Fract
	ExtendedMode uint32
	ReadBuffers  uint32
	Reserved     [4]uint32
}

type v4l2RequestBuffers struct {
	Count        uint32
	Type         uint32
	Memory       uint32
	Capabilities uint32
	Flags        uint8
	Reserved     [3]uint8
}

type v4l2Buffer struct {
	Index     uint32
	Type      uint32
	BytesUsed uint32
	Flags     uint32
	Field     uint32
	Timestamp unix.Timeval
	Timecode  [16]byte
	Sequence  uint32
	Memory    uint32
	M         uintptr // union; for MMAP its first 32 bits are the offset (little-endian)
	Length    uint32
	Reserved2 uint32
	RequestFD int32
}

// Generic Linux ioctl number encoding.
const (
	iocWrite = 1
	iocRead  = 2
)

func ioc(dir, nr, size uintptr) uint32 {
	return uint32(dir<<30 | size<<16 | 'V'<<8 | nr)
}

var (
	vidiocQueryCap  = ioc(iocRead, 0, unsafe.Sizeof(v4l2Capability{}))
	vidiocEnumFmt   = ioc(iocRead|iocWrite, 2, unsafe.Sizeof(v4l2FmtDesc{}))
	vidiocSFmt      = ioc(iocRead|iocWrite, 5, unsafe.Sizeof(v4l2Format{}))
	vidiocReqBufs   = ioc(iocRead|iocWrite, 8, unsafe.Sizeof(v4l2RequestBuffers{}))
	vidiocQueryBuf  = ioc(iocRead|iocWrite, 9, unsafe.Sizeof(v4l2Buffer{}))
	vidiocQBuf      = ioc(iocRead|iocWrite, 15, unsafe.Sizeof(v4l2Buffer{}))
	vidiocDQBuf     = ioc(iocRead|iocWrite, 17, unsafe.Sizeof(v4l2Buffer{}))
	vidiocStreamOn  = ioc(iocWrite, 18, unsafe.Sizeof(int32(0)))
	vidiocStreamOff = ioc(iocWrite, 19, unsafe.Sizeof(int32(0)))
	vidiocSParm     = ioc(iocRead|iocWrite, 22, unsafe.Sizeof(v4l2StreamParm{}))
)

func ioctl(fd int, req uint32, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

// chooseFormat picks what to ask the camera for among the formats it lists: YUYV first,
// because converting it costs far less CPU than decoding a JPEG and the network looks at a
// few thousand pixels anyway, then MJPEG (at large sizes many USB 2 cameras reach 30 fps
// only in MJPEG).
func chooseFormat(offered []uint32) (uint32, error) {
	for _, want := range []uint32{pixYUYV, pixMJPG, pixJPEG} {
		for _, f := range offered {
			if f == want {
				return f, nil
			}
		}
	}
	names := make([]string, len(offered))
	for i, f := range offered {
		names[i] = fourccString(f)
	}
	return 0, fmt.Errorf("the camera offers %v, and ninedge reads YUYV or MJPEG", names)
}

// packetOf describes the frames of a negotiated format.
func packetOf(pix v4l2PixFormat) (Packet, error) {
	w, h := int(pix.Width), int(pix.Height)
	switch pix.PixelFormat {
	case pixYUYV:
		stride := max(int(pix.BytesPerLine), 2*w)
		return Packet{Kind: YUYV, W: w, H: h, Stride: stride}, nil
	case pixMJPG, pixJPEG:
		return Packet{Kind: JPEG}, nil
	}
	return Packet{}, fmt.Errorf("the driver set format %s", fourccString(pix.PixelFormat))
}

// v4l2 is an open capture device, streaming.
type v4l2 struct {
	path    string
	fd      int
	bufs    [][]byte // memory-mapped
	format  Packet   // Kind, W, H, Stride of every frame
	timeout time.Duration
	buf     []byte // the last frame, copied out so its buffer goes straight back to the driver
	mu      sync.Mutex
	closing atomic.Bool
	closed  bool
}

func openV4L2(path string, opt SourceOptions) (Source, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", path, err)
	}
	s := &v4l2{path: path, fd: fd, timeout: opt.timeout()}
	if err := s.start(opt); err != nil {
		s.release()
		return nil, fmt.Errorf("source %s: %w", path, err)
	}
	return s, nil
}

func (s *v4l2) start(opt SourceOptions) error {
	var c v4l2Capability
	if err := ioctl(s.fd, vidiocQueryCap, unsafe.Pointer(&c)); err != nil {
		return fmt.Errorf("not a V4L2 device: %w", err)
	}
	caps := c.Capabilities
	if caps&capDeviceCaps != 0 {
		caps = c.DeviceCaps
	}
	card := unix.ByteSliceToString(c.Card[:])
	if caps&capVideoCapture == 0 || caps&capStreaming == 0 {
		return fmt.Errorf("%s (%s) cannot stream video capture (capabilities %#x)", card, unix.ByteSliceToString(c.Driver[:]), caps)
	}
	var offered []uint32
	for i := uint32(0); ; i++ {
		d := v4l2FmtDesc{Index: i, Type: bufTypeVideoCapture}
		if ioctl(s.fd, vidiocEnumFmt, unsafe.Pointer(&d)) != nil {
			break
		}
		offered = append(offered, d.PixelFormat)
	}
	pixfmt, err := chooseFormat(offered)
	if err != nil {
		return fmt.Errorf("%s: %w", card, err)
	}
	w, h := opt.W, opt.H
	if w == 0 {
		w, h = 640, 480
	}
	f := v4l2Format{Type: bufTypeVideoCapture}
	f.Fmt.Pix = v4l2PixFormat{Width: uint32(w), Height: uint32(h), PixelFormat: pixfmt, Field: fieldAny}
	if err := ioctl(s.fd, vidiocSFmt, unsafe.Pointer(&f)); err != nil {
		return fmt.Errorf("setting %s %dx%d: %w", fourccString(pixfmt), w, h, err)
	}
	if s.format, err = packetOf(f.Fmt.Pix); err != nil {
		return err
	}
	if opt.FPS > 0 { // a request: many cameras only have fixed rates, and the driver picks the nearest
		p := v4l2StreamParm{Type: bufTypeVideoCapture}
		p.Capture.TimePerFrame = v4l2Fract{Numerator: 1000, Denominator: uint32(opt.FPS * 1000)}
		_ = ioctl(s.fd, vidiocSParm, unsafe.Pointer(&p))
	}
	return s.mapBuffers()
}

func (s *v4l2) mapBuffers() error {
	req := v4l2RequestBuffers{Count: v4l2Buffers, Type: bufTypeVideoCapture, Memory: memoryMMAP}
	if err := ioctl(s.fd, vidiocReqBufs, unsafe.Pointer(&req)); err != nil {
		return fmt.Errorf("requesting buffers: %w", err)
	}
	if req.Count < 2 {
		return fmt.Errorf("the driver gave %d buffers", req.Count)
	}
	for i := uint32(0); i < req.Count; i++ {
		b := v4l2Buffer{Index: i, Type: bufTypeVideoCapture, Memory: memoryMMAP}
		if err := ioctl(s.fd, vidiocQueryBuf, unsafe.Pointer(&b)); err != nil {
			return fmt.Errorf("querying buffer %d: %w", i, err)
		}
		m, err := unix.Mmap(s.fd, int64(uint32(b.M)), int(b.Length), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return fmt.Errorf("mapping buffer %d: %w", i, err)
		}
		s.bufs = append(s.bufs, m)
		if err := ioctl(s.fd, vidiocQBuf, unsafe.Pointer(&b)); err != nil {
			return fmt.Errorf("queueing buffer %d: %w", i, err)
		}
	}
	typ := int32(bufTypeVideoCapture)
	if err := ioctl(s.fd, vidiocStreamOn, unsafe.Pointer(&typ)); err != nil {
		return fmt.Errorf("starting the stream: %w", err)
	}
	return nil
}

// pollSlice is how often a wait for a frame checks whether Close was called.
const pollSlice = 100 * time.Millisecond

func (s *v4l2) Next() (Packet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Packet{}, ErrClosed
	}
	deadline := time.Now().Add(s.timeout)
	for {
		if s.closing.Load() {
			return Packet{}, ErrClosed
		}
		if time.Now().After(deadline) {
			return Packet{}, fmt.Errorf("%s: no frame for %v", s.path, s.timeout)
		}
		fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(pollSlice/time.Millisecond))
		if err == unix.EINTR || n == 0 {
			continue
		}
		if err != nil {
			return Packet{}, fmt.Errorf("%s: %w", s.path, err)
		}
		b := v4l2Buffer{Type: bufTypeVideoCapture, Memory: memoryMMAP}
		if err := ioctl(s.fd, vidiocDQBuf, unsafe.Pointer(&b)); err != nil {
			if errors.Is(err, unix.EAGAIN) {
				continue
			}
			return Packet{}, fmt.Errorf("%s: dequeueing a frame: %w (was the camera unplugged?)", s.path, err)
		}
		if int(b.Index) >= len(s.bufs) {
			return Packet{}, fmt.Errorf("%s: the driver returned buffer %d of %d", s.path, b.Index, len(s.bufs))
		}
		used := min(int(b.BytesUsed), len(s.bufs[b.Index]))
		s.buf = append(s.buf[:0], s.bufs[b.Index][:used]...)
		if err := ioctl(s.fd, vidiocQBuf, unsafe.Pointer(&b)); err != nil {
			return Packet{}, fmt.Errorf("%s: requeueing a buffer: %w", s.path, err)
		}
		if b.Flags&bufFlagError != 0 {
			return Packet{}, frameErrorf("%s: the driver marked frame %d as damaged", s.path, b.Sequence)
		}
		p := s.format
		p.Data, p.Time = s.buf, time.Now()
		return p, nil
	}
}

// Close stops a Next in progress within pollSlice, then stops streaming and frees the buffers.
func (s *v4l2) Close() error {
	s.closing.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	typ := int32(bufTypeVideoCapture)
	_ = ioctl(s.fd, vidiocStreamOff, unsafe.Pointer(&typ))
	return s.release()
}

func (s *v4l2) release() error {
	s.closed = true
	for _, b := range s.bufs {
		_ = unix.Munmap(b)
	}
	s.bufs = nil
	return unix.Close(s.fd)
}
