//go:build linux && (amd64 || arm64 || arm || 386 || riscv64)

package stream

import (
	"errors"
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestV4L2ABI checks the struct sizes and ioctl numbers against <linux/videodev2.h> as
// compiled for 64- and 32-bit ABIs (the numbers are those strace and the kernel headers show).
func TestV4L2ABI(t *testing.T) {
	is64 := unsafe.Sizeof(uintptr(0)) == 8
	pick := func(a64, a32 uint32) uint32 {
		if is64 {
			return a64
		}
		return a32
	}
	sizes := []struct {
		name string
		got  uintptr
		want uint32
	}{
		{"v4l2_capability", unsafe.Sizeof(v4l2Capability{}), 104},
		{"v4l2_fmtdesc", unsafe.Sizeof(v4l2FmtDesc{}), 64},
		{"v4l2_pix_format", unsafe.Sizeof(v4l2PixFormat{}), 48},
		{"v4l2_format", unsafe.Sizeof(v4l2Format{}), pick(208, 204)},
		{"v4l2_streamparm", unsafe.Sizeof(v4l2StreamParm{}), 204},
		{"v4l2_requestbuffers", unsafe.Sizeof(v4l2RequestBuffers{}), 20},
		{"v4l2_buffer", unsafe.Sizeof(v4l2Buffer{}), pick(88, 68)},
	}
	for _, s := range sizes {
		if uint32(s.got) != s.want {
			t.Errorf("sizeof(%s) = %d, want %d", s.name, s.got, s.want)
		}
	}
	if off := unsafe.Offsetof(v4l2Format{}.Fmt); off != uintptr(pick(8, 4)) {
		t.Errorf("v4l2_format.fmt at offset %d", off)
	}
	ioctls := []struct {
		name      string
		got, want uint32
	}{
		{"VIDIOC_QUERYCAP", vidiocQueryCap, 0x80685600},
		{"VIDIOC_ENUM_FMT", vidiocEnumFmt, 0xc0405602},
		{"VIDIOC_S_FMT", vidiocSFmt, pick(0xc0d05605, 0xc0cc5605)},
		{"VIDIOC_REQBUFS", vidiocReqBufs, 0xc0145608},
		{"VIDIOC_QUERYBUF", vidiocQueryBuf, pick(0xc0585609, 0xc0445609)},
		{"VIDIOC_QBUF", vidiocQBuf, pick(0xc058560f, 0xc044560f)},
		{"VIDIOC_DQBUF", vidiocDQBuf, pick(0xc0585611, 0xc0445611)},
		{"VIDIOC_STREAMON", vidiocStreamOn, 0x40045612},
		{"VIDIOC_STREAMOFF", vidiocStreamOff, 0x40045613},
		{"VIDIOC_S_PARM", vidiocSParm, 0xc0cc5616},
	}
	for _, c := range ioctls {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
}

func TestChooseFormat(t *testing.T) {
	yuyv, mjpg, jpeg, h264 := fourcc("YUYV"), fourcc("MJPG"), fourcc("JPEG"), fourcc("H264")
	tests := []struct {
		offered []uint32
		want    uint32
		err     string
	}{
		{[]uint32{mjpg, yuyv}, yuyv, ""},
		{[]uint32{h264, mjpg}, mjpg, ""},
		{[]uint32{jpeg}, jpeg, ""},
		{[]uint32{h264}, 0, "offers [H264]"},
		{nil, 0, "offers []"},
	}
	for _, tt := range tests {
		got, err := chooseFormat(tt.offered)
		if got != tt.want || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("chooseFormat(%v) = %s, %v; want %s, %q", tt.offered, fourccString(got), err, fourccString(tt.want), tt.err)
		}
	}
}

func TestPacketOf(t *testing.T) {
	tests := []struct {
		pix  v4l2PixFormat
		want Packet
		err  bool
	}{
		{v4l2PixFormat{Width: 640, Height: 480, PixelFormat: pixYUYV, BytesPerLine: 1280}, Packet{Kind: YUYV, W: 640, H: 480, Stride: 1280}, false},
		{v4l2PixFormat{Width: 320, Height: 240, PixelFormat: pixYUYV, BytesPerLine: 704}, Packet{Kind: YUYV, W: 320, H: 240, Stride: 704}, false},
		{v4l2PixFormat{Width: 320, Height: 240, PixelFormat: pixYUYV}, Packet{Kind: YUYV, W: 320, H: 240, Stride: 640}, false},
		{v4l2PixFormat{Width: 1280, Height: 720, PixelFormat: pixMJPG}, Packet{Kind: JPEG}, false},
		{v4l2PixFormat{PixelFormat: fourcc("NV12")}, Packet{}, true},
	}
	for _, tt := range tests {
		got, err := packetOf(tt.pix)
		if (err != nil) != tt.err || got.Kind != tt.want.Kind || got.W != tt.want.W || got.H != tt.want.H || got.Stride != tt.want.Stride {
			t.Errorf("packetOf(%+v) = %+v, %v", tt.pix, got, err)
		}
	}
}

func TestOpenV4L2Errors(t *testing.T) {
	_, err := Open("/dev/video99", SourceOptions{})
	if !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "/dev/video99") {
		t.Errorf("missing device: %v", err)
	}
	if _, err := os.Stat("/dev/null"); err == nil {
		_, err := Open("/dev/null", SourceOptions{})
		if err == nil || !strings.Contains(err.Error(), "not a V4L2 device") {
			t.Errorf("/dev/null: %v", err)
		}
	}
}
