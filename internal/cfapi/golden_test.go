package cfapi

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/cryptotest"
	"text/template"
	"time"

	"github.com/portico-edge/portico"
)

var update = flag.Bool("update", false, "rewrite the responses in testdata/*.golden with those received")

// goldenClock is the service's clock in the golden tests.
var goldenClock = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// TestGolden replays the request/response pairs in testdata/*.golden
// against a fresh API each.
//
// A golden file is a comment followed by sections, each starting with a
// line "-- name --":
//
//   - "request" is an HTTP request: "METHOD /path", header lines, a blank
//     line and the body. It must be followed by a "response" section: the
//     status line, the API's own headers (sorted), a blank line and the
//     body, pretty-printed when it is XML.
//   - "setup" is a request whose response is not recorded; it must succeed.
//   - "deploy" makes the edge report the store's current revision.
//
// A request that fails must leave the store exactly as it was.
//
// A body "@file k=v ..." is testdata/fixtures/file run as a text/template
// with the given keys. Requests are signed with SigV4 unless a header
// "X-Golden-Auth" says "none" or "wrong-secret". Volatile values in
// responses are replaced by placeholders, which requests may use: ${E1},
// ${E2}, … for distribution IDs in order of appearance (${e1} for
// lower-case), ${ETAG1}, … for ETags, ${I1}, … for invalidation IDs,
// ${P1}, … for the IDs of custom policies (managed ones are shown as they
// are),
// ${HOST}, ${CERT_ARN} (a certificate for login.example.com and
// *.example.com), ${OTHER_CERT_ARN} (www.example.net) and ${REQUEST_ID}.
//
// Run with -update to rewrite the responses:
//
//	go test ./internal/cfapi -run TestGolden -update
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.golden")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden files in testdata")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".golden"), func(t *testing.T) {
			runGolden(t, file)
		})
	}
}

// section is one "-- name --" part of a golden file.
type section struct {
	name, text string
}

func runGolden(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	comment, sections := parseSections(string(data))

	env := newAPIEnv(t, goldenClock)
	n := newNormalizer()
	n.add(env.importCert(t, goldenClock, "login.example.com", "*.example.com"), "${CERT_ARN}")
	n.add(env.importCert(t, goldenClock, "www.example.net"), "${OTHER_CERT_ARN}")
	n.add(env.server.Listener.Addr().String(), "${HOST}")
	// From here on, IDs and ETags come in a fixed sequence, so that lists
	// sorted by ID come out in the same order on every run.
	cryptotest.SetGlobalRandom(t, 1)

	var out strings.Builder
	out.WriteString(comment)
	for i := 0; i < len(sections); i++ {
		s := sections[i]
		fmt.Fprintf(&out, "-- %s --\n%s", s.name, s.text)
		switch s.name {
		case "deploy":
			env.deploy(t)
		case "setup":
			resp := doGolden(t, env, n, s.text)
			// Formatting the response learns its IDs.
			if got := resp.format(n); resp.status/100 != 2 {
				t.Fatalf("setup request failed:\n%s\n%s", s.text, got)
			}
		case "request":
			if i+1 == len(sections) || sections[i+1].name != "response" {
				t.Fatalf("request section %d has no response section after it", i)
			}
			want := sections[i+1].text
			i++
			before := env.dump(t)
			resp := doGolden(t, env, n, s.text)
			got := resp.format(n)
			fmt.Fprintf(&out, "-- response --\n%s", got)
			if resp.status >= 400 && !reflect.DeepEqual(env.dump(t), before) {
				t.Errorf("request:\n%s\nfailed with %d but changed the store", s.text, resp.status)
			}
			if got != want && !*update {
				t.Errorf("request:\n%s\nresponse:\n%s\nwant:\n%s", s.text, got, want)
			}
		default:
			t.Fatalf("unknown section %q", s.name)
		}
	}
	if *update && out.String() != string(data) {
		if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("updated %s", file)
	}
}

// parseSections splits a golden file into its leading comment and its
// sections. Each section's text ends with a newline.
func parseSections(data string) (comment string, sections []section) {
	var cur *section
	var buf strings.Builder
	flush := func() {
		if cur == nil {
			comment = buf.String()
		} else {
			cur.text = buf.String()
			sections = append(sections, *cur)
		}
		buf.Reset()
	}
	sc := bufio.NewScanner(strings.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "-- "); ok && strings.HasSuffix(name, " --") {
			flush()
			cur = &section{name: strings.TrimSuffix(name, " --")}
			continue
		}
		buf.WriteString(line + "\n")
	}
	flush()
	return comment, sections
}

// goldenResponse is what the API answered to a golden request.
type goldenResponse struct {
	status int
	header http.Header
	body   []byte
}

// goldenHeaders are the response headers golden files record: those the
// API itself sets.
var goldenHeaders = []string{"Allow", "Content-Type", "Etag", "Location", "X-Amz-Request-Id"}

// format renders the response as a golden file records it, with its
// volatile values replaced. The body is normalised first, so that
// placeholders are numbered in the order a reader meets them there.
func (r *goldenResponse) format(n *normalizer) string {
	var body string
	if len(r.body) > 0 {
		body = n.normalize(prettyXML(r.body))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s\n", r.status, http.StatusText(r.status))
	for _, name := range goldenHeaders {
		if v := r.header.Get(name); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", name, v)
		}
	}
	return n.normalize(b.String()) + "\n" + body
}

// doGolden sends the request a golden section describes.
func doGolden(t *testing.T, env *apiEnv, n *normalizer, text string) *goldenResponse {
	t.Helper()
	text = n.expand(text)
	head, body, _ := strings.Cut(text, "\n\n")
	lines := strings.Split(head, "\n")
	method, path, ok := strings.Cut(lines[0], " ")
	if !ok {
		t.Fatalf("bad request line %q", lines[0])
	}
	body = strings.TrimSuffix(body, "\n")
	if fixture, ok := strings.CutPrefix(body, "@"); ok {
		body = n.expand(renderFixture(t, fixture))
	}
	req, err := http.NewRequestWithContext(t.Context(), method, env.server.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	auth := "sign"
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("bad header line %q", l)
		}
		value = strings.TrimSpace(value)
		if http.CanonicalHeaderKey(name) == "X-Golden-Auth" {
			auth = value
			continue
		}
		req.Header.Add(name, value)
	}
	switch auth {
	case "none":
	case "wrong-secret":
		sign(t, req, []byte(body), "not-the-secret")
	case "sign":
		sign(t, req, []byte(body), testSecretKey)
	default:
		t.Fatalf("unknown X-Golden-Auth %q", auth)
	}
	resp, err := env.server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &goldenResponse{status: resp.StatusCode, header: resp.Header, body: respBody}
}

// renderFixture runs "file k=v ..." as described on TestGolden.
func renderFixture(t testing.TB, spec string) string {
	t.Helper()
	fields := strings.Fields(spec)
	tmpl, err := template.New(fields[0]).Option("missingkey=zero").ParseFiles(filepath.Join("testdata", "fixtures", fields[0]))
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]string{}
	for _, kv := range fields[1:] {
		k, v, _ := strings.Cut(kv, "=")
		data[k] = v
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// prettyXML re-indents an XML document, dropping the white space between
// elements and keeping everything else. A body that is not XML is
// returned as it is.
func prettyXML(body []byte) string {
	d := xml.NewDecoder(bytes.NewReader(body))
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return string(body) + "\n"
		}
		if cd, ok := tok.(xml.CharData); ok && len(bytes.TrimSpace(cd)) == 0 {
			continue
		}
		if err := enc.EncodeToken(tok); err != nil {
			return string(body) + "\n"
		}
		if _, ok := tok.(xml.ProcInst); ok {
			// The encoder does not indent after a declaration.
			if err := enc.Flush(); err != nil {
				return string(body) + "\n"
			}
			b.WriteByte('\n')
		}
	}
	if err := enc.Flush(); err != nil {
		return string(body) + "\n"
	}
	return b.String() + "\n"
}

// normalizer replaces volatile values in responses by placeholders and
// placeholders in requests by the values they stand for.
type normalizer struct {
	fixed  map[string]string // value → placeholder, set up front
	values map[string]string // placeholder → value
	ids    map[string]string // learned ID → placeholder
	counts map[string]int
}

var (
	idPattern        = regexp.MustCompile(`\b[EI][A-Z0-9]{13}\b`)
	etagPattern      = regexp.MustCompile(`(?m)(?:^Etag: |<ETag>)(E[A-Z0-9]{13})\b`)
	requestIDPattern = regexp.MustCompile(`(?m)(^X-Amz-Request-Id: |<RequestId>)[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`)
	// policyIDPattern matches policy IDs: the managed ones are kept, the
	// others become ${P1}, ${P2}, ….
	policyIDPattern = regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
)

func newNormalizer() *normalizer {
	return &normalizer{fixed: map[string]string{}, values: map[string]string{}, ids: map[string]string{}, counts: map[string]int{}}
}

func (n *normalizer) add(value, placeholder string) {
	n.fixed[value] = placeholder
	n.values[placeholder] = value
}

// normalize replaces the volatile values in s, learning new IDs.
func (n *normalizer) normalize(s string) string {
	// Longest first, so that no value is replaced inside a longer one.
	fixed := slices.Collect(func(yield func(string) bool) {
		for v := range n.fixed {
			if !yield(v) {
				return
			}
		}
	})
	slices.SortFunc(fixed, func(a, b string) int { return len(b) - len(a) })
	for _, v := range fixed {
		s = strings.ReplaceAll(s, v, n.fixed[v])
	}
	s = requestIDPattern.ReplaceAllStringFunc(s, func(m string) string {
		return requestIDPattern.FindStringSubmatch(m)[1] + "${REQUEST_ID}"
	})
	s = policyIDPattern.ReplaceAllStringFunc(s, func(id string) string {
		if isManagedPolicyID(id) {
			return id
		}
		return n.learn(id, "P")
	})
	for _, m := range etagPattern.FindAllStringSubmatch(s, -1) {
		n.learn(m[1], "ETAG")
	}
	s = idPattern.ReplaceAllStringFunc(s, func(id string) string {
		return n.learn(id, id[:1])
	})
	for id, p := range n.ids {
		if strings.HasPrefix(p, "${e") {
			s = strings.ReplaceAll(s, id, p)
		}
	}
	return s
}

// isManagedPolicyID reports whether id is the ID of a managed policy,
// which golden files show as it is.
func isManagedPolicyID(id string) bool {
	_, cache := portico.FindManaged(portico.ManagedCachePolicies(), id)
	_, origin := portico.FindManaged(portico.ManagedOriginRequestPolicies(), id)
	_, headers := portico.FindManaged(portico.ManagedResponseHeadersPolicies(), id)
	return cache || origin || headers
}

var placeholderPattern = regexp.MustCompile(`\$\{[A-Za-z0-9_]+\}`)

// learn returns the placeholder of id, making a new one of the kind
// (E, I or ETAG) if id is new. A new E ID's lower-case form gets the
// lower-case placeholder.
func (n *normalizer) learn(id, kind string) string {
	if p, ok := n.ids[id]; ok {
		return p
	}
	n.counts[kind]++
	p := fmt.Sprintf("${%s%d}", kind, n.counts[kind])
	n.ids[id] = p
	n.values[p] = id
	if kind == "E" {
		lower := strings.ToLower(p)
		n.ids[strings.ToLower(id)] = lower
		n.values[lower] = strings.ToLower(id)
	}
	return p
}

// expand replaces the placeholders in s by their values.
func (n *normalizer) expand(s string) string {
	return placeholderPattern.ReplaceAllStringFunc(s, func(p string) string {
		if v, ok := n.values[p]; ok {
			return v
		}
		return p
	})
}
