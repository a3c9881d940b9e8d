package stream

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ninedge/ninedge/imageio"
	"github.com/ninedge/ninedge/internal/infile"
)

// folder plays a folder's images in name order, paced like a camera.
type folder struct {
	files []string
	next  int
	max   int
	buf   bytes.Buffer
}

func openFolder(dir string, opt SourceOptions) (Source, error) {
	files, skipped, err := imageio.ListImages(dir)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if opt.Log != nil {
		for _, s := range skipped {
			fmt.Fprintf(opt.Log, "source: skipping %v\n", s)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("source %s: no image files (%s)", dir, strings.Join(imageio.Extensions, ", "))
	}
	fps := opt.FPS
	if fps <= 0 {
		fps = DefaultFolderFPS
	}
	return pace(&folder{files: files, max: opt.maxFrame()}, fps), nil
}

func (s *folder) Close() error { return nil }

func (s *folder) Next() (Packet, error) {
	if s.next == len(s.files) {
		return Packet{}, io.EOF
	}
	name := s.files[s.next]
	s.next++
	f, err := infile.Open(name)
	if err != nil {
		return Packet{}, &FrameError{Msg: err.Error()}
	}
	defer f.Close()
	s.buf.Reset()
	n, err := s.buf.ReadFrom(io.LimitReader(f, int64(s.max)+1))
	switch {
	case err != nil:
		return Packet{}, frameErrorf("%s: %v", name, err)
	case n > int64(s.max):
		return Packet{}, frameErrorf("%s: larger than %d bytes: skipped", name, s.max)
	}
	kind := Image
	if bytes.HasPrefix(s.buf.Bytes(), []byte{0xFF, markerSOI, 0xFF}) {
		kind = JPEG // kept as JPEG, so that a server shows it without encoding it again
	}
	return Packet{Kind: kind, Data: s.buf.Bytes(), Time: time.Now(), Name: name}, nil
}
