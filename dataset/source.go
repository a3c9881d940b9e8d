package dataset

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/ninedge/ninedge/internal/infile"
)

// source is one data file, found under one of the names its archive may leave it with.
type source struct {
	path string // as opened
	name string // relative to the data set folder, for error messages
}

// findSource returns the first of the candidate paths (relative to dir, slash-separated)
// that exists, trying each as given and then with .gz appended.
func findSource(dir string, candidates ...string) (source, error) {
	var tried []string
	for _, c := range candidates {
		for _, name := range []string{c, c + ".gz"} {
			path := filepath.Join(dir, filepath.FromSlash(name))
			_, err := infile.Check(path)
			if err == nil {
				return source{path: path, name: name}, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return source{}, fmt.Errorf("%s: %w", name, err)
			}
			tried = append(tried, name)
		}
	}
	return source{}, fmt.Errorf("%s: %w in %s (looked for %s)", candidates[0], fs.ErrNotExist, dir, strings.Join(tried, ", "))
}

func (s source) gzipped() bool { return strings.HasSuffix(s.path, ".gz") }

// maxDeflateRatio is the most a deflate stream can expand (a 258-byte match costs about
// two bits), so a gzip file of n bytes cannot hold more than maxDeflateRatio·n.
const maxDeflateRatio = 1032

// size returns most, the largest number of bytes the source can yield, which a header's
// claims are checked against, and expect, the number it will yield if it is intact (the
// file size, or the length a gzip trailer records), used only to size buffers.
func (s source) size() (expect, most int64, err error) {
	f, err := infile.Open(s.path)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", s.name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", s.name, err)
	}
	n := fi.Size()
	if !s.gzipped() {
		return n, n, nil
	}
	most = n * maxDeflateRatio
	var trailer [4]byte // ISIZE: the uncompressed length modulo 2³²
	if n >= 18 {
		if _, err := f.ReadAt(trailer[:], n-4); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	if isize := int64(binary.LittleEndian.Uint32(trailer[:])); isize <= most {
		expect = isize
	}
	return expect, most, nil
}

// openFound finds base in dir and opens it; most bounds what it can yield (see size).
func openFound(dir, base string) (src source, r io.ReadCloser, most int64, err error) {
	if src, err = findSource(dir, base); err != nil {
		return src, nil, 0, err
	}
	if _, most, err = src.size(); err != nil {
		return src, nil, 0, err
	}
	r, err = src.open()
	return src, r, most, err
}

// open returns the source's contents, decompressed when it is gzipped.
func (s source) open() (io.ReadCloser, error) {
	f, err := infile.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	if !s.gzipped() {
		return readCloser{bufio.NewReaderSize(f, 1<<16), f.Close}, nil
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	return readCloser{gzipReader{zr}, func() error { zr.Close(); return f.Close() }}, nil
}

// gzipReader tells a truncated gzip stream apart from data of the wrong length: gzip
// reports both as io.ErrUnexpectedEOF, which record readers take to mean the latter.
type gzipReader struct{ zr *gzip.Reader }

var errGzipTruncated = errors.New("compressed data truncated")

func (g gzipReader) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err == io.ErrUnexpectedEOF {
		err = fmt.Errorf("%w: %w", errGzipTruncated, err)
	}
	return n, err
}

type readCloser struct {
	io.Reader
	close func() error
}

func (rc readCloser) Close() error { return rc.close() }

// readNames reads class names, one per line, from the file name in dir. Blank lines are
// ignored; there must be exactly want names. A missing file gives the standard names.
func readNames(dir, name string, want int, standard []string) ([]string, error) {
	data, err := infile.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if errors.Is(err, fs.ErrNotExist) {
		return standard, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var names []string
	for line := range strings.Lines(string(data)) {
		if n := strings.TrimSpace(line); n != "" {
			names = append(names, n)
		}
	}
	if len(names) != want {
		return nil, fmt.Errorf("%s: %d class names, want %d", name, len(names), want)
	}
	return names, nil
}
