package httpcache

import (
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
)

// Compression, as CloudFront does it for a behaviour with Compress (DG
// ServingCompressedFiles): a response is compressed when the viewer
// accepts gzip or br (br preferred), over HTTP/1.1 or later, and the
// response has a status of 200, 403 or 404, a Content-Type in CloudFront's
// list, a Content-Length from 1,000 to 10,000,000 bytes, and no
// Content-Encoding at all. The compressed response carries
// Content-Encoding and Vary: Accept-Encoding, and its strong ETag turns
// weak (an ETag that is not a valid entity-tag is dropped). Portico also
// honours Cache-Control: no-transform (RFC 9110 §7.7), which CloudFront
// does not mention. The key holds the normalised Accept-Encoding, so each
// coding is stored apart.

const (
	minCompressBytes = 1000
	maxCompressBytes = 10_000_000
)

// compressibleTypes are the media types CloudFront compresses.
var compressibleTypes = map[string]bool{
	"application/dash+xml": true, "application/eot": true, "application/font": true,
	"application/font-sfnt": true, "application/javascript": true, "application/json": true,
	"application/opentype": true, "application/otf": true, "application/pkcs7-mime": true,
	"application/protobuf": true, "application/rss+xml": true, "application/truetype": true,
	"application/ttf": true, "application/vnd.apple.mpegurl": true, "application/vnd.ms-fontobject": true,
	"application/xhtml+xml": true, "application/xml": true, "application/x-font-opentype": true,
	"application/x-font-truetype": true, "application/x-font-ttf": true, "application/x-httpd-cgi": true,
	"application/x-javascript": true, "application/x-mpegurl": true, "application/x-opentype": true,
	"application/x-otf": true, "application/x-perl": true, "application/x-ttf": true,
	"font/eot": true, "font/opentype": true, "font/otf": true, "font/ttf": true,
	"image/svg+xml": true, "text/css": true, "text/csv": true, "text/html": true,
	"text/javascript": true, "text/js": true, "text/plain": true, "text/richtext": true,
	"text/tab-separated-values": true, "text/xml": true, "text/x-component": true,
	"text/x-java-source": true, "text/x-script": true, "vnd.apple.mpegurl": true,
}

// compressible reports whether a response with status and header fields hd
// is one CloudFront compresses, whatever the viewer accepts.
func compressible(status int, hd http.Header) bool {
	switch status {
	case http.StatusOK, http.StatusForbidden, http.StatusNotFound:
	default:
		return false
	}
	if _, ok := hd["Content-Encoding"]; ok {
		return false
	}
	n, err := strconv.ParseInt(headerValue(hd, "Content-Length"), 10, 64)
	if err != nil || n < minCompressBytes || n > maxCompressBytes {
		return false
	}
	mediaType, _, _ := strings.Cut(headerValue(hd, "Content-Type"), ";")
	if !compressibleTypes[strings.ToLower(trimOWS(mediaType))] {
		return false
	}
	return !parseCacheControl(hd["Cache-Control"]).noTransform
}

// coding returns the coding to compress with for a viewer's normalised
// Accept-Encoding (see keySpec.acceptEncoding), or "".
func coding(acceptEncoding string) string {
	switch {
	case strings.Contains(acceptEncoding, "br"):
		return "br"
	case strings.Contains(acceptEncoding, "gzip"):
		return "gzip"
	}
	return ""
}

// asCompressed turns the header fields of a response into those of its
// compressed form.
func asCompressed(hd http.Header, coding string) {
	hd["Content-Encoding"] = []string{coding}
	delete(hd, "Content-Length")
	if etag, ok := hd["Etag"]; ok && len(etag) > 0 {
		if tag := weakETag(etag[0]); tag != "" {
			hd["Etag"] = []string{tag}
		} else {
			delete(hd, "Etag")
		}
	}
}

// weakETag returns the weak form of an entity-tag, or "" when etag is not
// one.
func weakETag(etag string) string {
	weak, opaque, ok := parseETag(etag)
	switch {
	case !ok:
		return ""
	case weak:
		return etag
	}
	return "W/" + opaque
}

// withVary returns Vary field lines that name Accept-Encoding, adding it
// to lines if needed. lines is not modified.
func withVary(lines []string, name string) []string {
	for _, line := range lines {
		for _, v := range strings.Split(line, ",") {
			if v = trimOWS(v); v == "*" || strings.EqualFold(v, name) {
				return lines
			}
		}
	}
	out := make([]string, len(lines), len(lines)+1)
	copy(out, lines)
	return append(out, name)
}

// encoder is a compressing writer that can be reset and reused.
type encoder interface {
	io.WriteCloser
	Flush() error
	Reset(io.Writer)
}

// encoderPools pools the compressors of each coding: they are large.
type encoderPools struct {
	gzip, br sync.Pool
}

func (p *encoderPools) pool(coding string) *sync.Pool {
	if coding == "br" {
		return &p.br
	}
	return &p.gzip
}

func (p *encoderPools) get(coding string, w io.Writer) encoder {
	e, _ := p.pool(coding).Get().(encoder)
	if e == nil {
		if coding == "br" {
			// Quality 5: close to the best ratio for text at a fraction
			// of the time of the higher qualities.
			e = brotli.NewWriterLevel(w, 5)
		} else {
			e, _ = gzip.NewWriterLevel(w, gzip.DefaultCompression)
		}
		return e
	}
	e.Reset(w)
	return e
}

func (p *encoderPools) put(coding string, e encoder) {
	e.Reset(nil)
	p.pool(coding).Put(e)
}
