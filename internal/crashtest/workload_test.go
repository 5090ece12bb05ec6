package crashtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// aliasDomain is the parent of every slot's alias; the certificate the
// distributions use is for *.aliasDomain.
const aliasDomain = "crash.test"

// requestTimeout bounds one API request. It is far above what a request
// takes (a delete waits up to 5 s for the edge): it only keeps a hung
// server from hanging the test.
const requestTimeout = 30 * time.Second

// apiClients are the real AWS SDK clients for one server process. The
// CloudFront client never retries: a retried create or update whose first
// attempt took effect would come back as a conflict, and the history
// would record the wrong outcome.
type apiClients struct {
	cf   *cloudfront.Client
	acm  *acm.Client
	http *http.Client
}

func newClients(api string) *apiClients {
	hc := &http.Client{
		Timeout:   requestTimeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true},
	}
	creds := credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, "")
	endpoint := aws.String("http://" + api)
	return &apiClients{
		cf: cloudfront.New(cloudfront.Options{
			BaseEndpoint: endpoint, Region: "us-east-1", Credentials: creds,
			HTTPClient: hc, Retryer: aws.NopRetryer{},
		}),
		acm: acm.New(acm.Options{
			BaseEndpoint: endpoint, Region: "us-east-1", Credentials: creds,
			HTTPClient: hc, Retryer: aws.NopRetryer{},
		}),
		http: hc,
	}
}

func (c *apiClients) close() { c.http.CloseIdleConnections() }

// recorder collects the history: every request with its call and return
// time on one monotonic clock. It is safe for concurrent use.
type recorder struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

func newRecorder() *recorder { return &recorder{start: time.Now()} }

// now returns the time since the recorder started, in nanoseconds.
func (r *recorder) now() int64 { return int64(time.Since(r.start)) }

func (r *recorder) add(op porcupine.Operation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
}

// len returns the number of operations recorded so far.
func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ops)
}

// history returns a copy of the operations recorded so far.
func (r *recorder) history() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ops)
}

// version is one state of a slot: empty (the zero value), or incarnation
// Gen with distribution ID at ETag, holding Comment.
type version struct {
	Present bool
	Gen     int
	ID      string
	ETag    string
	Comment string
	Enabled bool
}

func (v version) String() string {
	if !v.Present {
		return "no distribution"
	}
	state := "enabled"
	if !v.Enabled {
		state = "disabled"
	}
	return fmt.Sprintf("%s ETag %s %q (%s)", v.ID, v.ETag, v.Comment, state)
}

// slot is one alias that one writer owns, and what that writer knows of
// it. Only its writer touches it during a cycle, and only the verifier
// between cycles.
type slot struct {
	index int    // partition key in the history
	name  string // w<writer>-s<n>
	alias string // <name>.crash.test
	// acked is the slot as of the last acknowledged write.
	acked version
	// gens and seq number the incarnations and the comments made so far.
	gens, seq int
}

func newSlots(writers, perWriter int) [][]*slot {
	all := make([][]*slot, writers)
	for w := range all {
		for n := range perWriter {
			name := fmt.Sprintf("w%d-s%d", w, n)
			all[w] = append(all[w], &slot{index: w*perWriter + n, name: name, alias: name + "." + aliasDomain})
		}
	}
	return all
}

// callerReference is the CallerReference of incarnation gen.
func (s *slot) callerReference(gen int) string { return fmt.Sprintf("%s-g%d", s.name, gen) }

// generation returns the incarnation a CallerReference names, if it is
// one of this slot's.
func (s *slot) generation(callerRef string) (int, bool) {
	var gen int
	_, err := fmt.Sscanf(callerRef, s.name+"-g%d", &gen)
	return gen, err == nil && callerRef == s.callerReference(gen)
}

// nextComment returns a Comment that no request has carried before.
func (s *slot) nextComment(gen int) string {
	s.seq++
	return fmt.Sprintf("%s-g%d-v%d", s.name, gen, s.seq)
}

// config returns the configuration the slot's writer sends for
// incarnation gen with comment: everything else follows from those.
func (s *slot) config(gen int, comment string, enabled bool, certARN string) *cftypes.DistributionConfig {
	const originID = "crash-origin"
	return &cftypes.DistributionConfig{
		CallerReference: aws.String(s.callerReference(gen)),
		Comment:         aws.String(comment),
		Enabled:         aws.Bool(enabled),
		Aliases:         &cftypes.Aliases{Quantity: aws.Int32(1), Items: []string{s.alias}},
		Origins: &cftypes.Origins{Quantity: aws.Int32(1), Items: []cftypes.Origin{{
			Id:         aws.String(originID),
			DomainName: aws.String(s.name + ".origin." + aliasDomain),
			CustomOriginConfig: &cftypes.CustomOriginConfig{
				HTTPPort:             aws.Int32(80),
				HTTPSPort:            aws.Int32(443),
				OriginProtocolPolicy: cftypes.OriginProtocolPolicyHttpsOnly,
			},
		}}},
		DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{
			TargetOriginId:       aws.String(originID),
			ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyRedirectToHttps,
			ForwardedValues: &cftypes.ForwardedValues{
				QueryString: aws.Bool(false),
				Cookies:     &cftypes.CookiePreference{Forward: cftypes.ItemSelectionNone},
			},
			MinTTL: aws.Int64(0),
		},
		ViewerCertificate: &cftypes.ViewerCertificate{
			ACMCertificateArn:      aws.String(certARN),
			SSLSupportMethod:       cftypes.SSLSupportMethodSniOnly,
			MinimumProtocolVersion: cftypes.MinimumProtocolVersionTLSv122021,
		},
	}
}

// fingerprint renders the parts of a configuration the writers choose, to
// compare what is stored with what was sent.
func fingerprint(c *cftypes.DistributionConfig) string {
	if c == nil {
		return "<nil>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ref=%s comment=%s enabled=%v", aws.ToString(c.CallerReference), aws.ToString(c.Comment), aws.ToBool(c.Enabled))
	if c.Aliases != nil {
		fmt.Fprintf(&b, " aliases=%v", c.Aliases.Items)
	}
	if c.Origins != nil {
		for _, o := range c.Origins.Items {
			fmt.Fprintf(&b, " origin=%s@%s", aws.ToString(o.Id), aws.ToString(o.DomainName))
		}
	}
	if c.DefaultCacheBehavior != nil {
		fmt.Fprintf(&b, " target=%s", aws.ToString(c.DefaultCacheBehavior.TargetOriginId))
	}
	if c.ViewerCertificate != nil {
		fmt.Fprintf(&b, " cert=%s", aws.ToString(c.ViewerCertificate.ACMCertificateArn))
	}
	return b.String()
}

// inFlight is a write whose outcome the client does not know: the kill
// cut off its response, or it got a 5xx.
type inFlight struct {
	slot *slot
	op   porcupine.Operation
	// open means no response came: the kill bounds its return time.
	open bool
	// want is the slot after the write if it took effect; the ID and ETag
	// the server would have chosen are unknown.
	want version
}

// writerResult is how one writer's cycle ended.
type writerResult struct {
	inFlight *inFlight // the write with an unknown outcome, if any
	// surprises are responses that contradict what the writer had been
	// told, or that no correct server gives this workload.
	surprises []string
}

// writer drives the API for its slots, one request at a time.
type writer struct {
	id      int
	slots   []*slot
	certARN string
	rec     *recorder
}

// runCycle sends requests until ctx is done, the server stops answering,
// or a response leaves the writer unsure of its slots' state.
func (w *writer) runCycle(ctx context.Context, c *apiClients) writerResult {
	var res writerResult
	for goOn := true; goOn && ctx.Err() == nil; {
		s := w.slots[rand.IntN(len(w.slots))]
		r := rand.Float64()
		switch {
		case !s.acked.Present:
			goOn = w.create(ctx, c, s, &res)
		case s.acked.Enabled && r < 0.5:
			goOn = w.update(ctx, c, s, true, &res)
		case s.acked.Enabled && r < 0.7:
			goOn = w.readConfig(ctx, c, s, &res)
		case s.acked.Enabled && r < 0.8:
			goOn = w.read(ctx, c, s, &res)
		case s.acked.Enabled && r < 0.85:
			goOn = w.list(ctx, c, &res)
		case s.acked.Enabled:
			goOn = w.update(ctx, c, s, false, &res) // disable, to delete it
		case r < 0.6:
			goOn = w.delete(ctx, c, s, &res)
		case r < 0.8:
			goOn = w.readConfig(ctx, c, s, &res)
		default:
			goOn = w.update(ctx, c, s, true, &res) // enable it again
		}
	}
	return res
}

// call is one request about to be sent.
type call struct {
	w    *writer
	s    *slot
	in   slotInput
	want version // for writes: the slot after it takes effect
	at   int64
}

// begin notes the time a request of w's about slot s is sent.
func (w *writer) begin(s *slot, in slotInput, want version) *call {
	in.Slot = s.index
	return &call{w: w, s: s, in: in, want: want, at: w.rec.now()}
}

// end records the request's result and reports what the writer should
// do next: go on (the outcome is as expected), or stop for this cycle.
// wantOutcomes lists the definite outcomes the writer expects besides ok.
func (c *call) end(res *writerResult, err error, value string, wantOutcomes ...outcome) (goOn bool) {
	ret := c.w.rec.now()
	o, sent, responded, unexpected := classify(err)
	if !sent {
		return false // the server is gone and the request never left
	}
	op := porcupine.Operation{
		ClientId: c.w.id, Input: c.in, Call: c.at,
		Output: slotOutput{Outcome: o, Value: value}, Return: ret,
	}
	if unexpected != nil {
		res.surprises = append(res.surprises, fmt.Sprintf("%s: %s: %v", c.s.name, describeOp(c.in, op.Output.(slotOutput)), unexpected))
	}
	if o == outUnknown {
		// A read without an answer tells nothing; a write may have taken
		// effect.
		if c.in.Kind != opRead && c.in.Kind != opList {
			res.inFlight = &inFlight{slot: c.s, op: op, open: !responded, want: c.want}
		}
		return false
	}
	c.w.rec.add(op)
	if o == outOK || slices.Contains(wantOutcomes, o) {
		return true
	}
	res.surprises = append(res.surprises, fmt.Sprintf("%s: %s, but the writer had acknowledged %v",
		c.s.name, describeOp(c.in, op.Output.(slotOutput)), c.s.acked))
	return false
}

// create creates the slot's next incarnation, enabled.
func (w *writer) create(ctx context.Context, c *apiClients, s *slot, res *writerResult) bool {
	s.gens++
	gen := s.gens
	comment := s.nextComment(gen)
	call := w.begin(s, slotInput{Kind: opCreate, Gen: gen, Value: comment},
		version{Present: true, Gen: gen, Comment: comment, Enabled: true})
	out, err := c.cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{
		DistributionConfig: s.config(gen, comment, true, w.certARN),
	})
	if !call.end(res, err, "") {
		return false
	}
	s.acked = call.want
	s.acked.ID, s.acked.ETag = aws.ToString(out.Distribution.Id), aws.ToString(out.ETag)
	return true
}

// update replaces the slot's configuration with a new Comment, enabled or
// not, If-Match the acknowledged ETag.
func (w *writer) update(ctx context.Context, c *apiClients, s *slot, enabled bool, res *writerResult) bool {
	cur := s.acked
	comment := s.nextComment(cur.Gen)
	want := cur
	want.Comment, want.Enabled, want.ETag = comment, enabled, ""
	call := w.begin(s, slotInput{Kind: opUpdate, Gen: cur.Gen, Expect: cur.Comment, Value: comment}, want)
	out, err := c.cf.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{
		Id: aws.String(cur.ID), IfMatch: aws.String(cur.ETag),
		DistributionConfig: s.config(cur.Gen, comment, enabled, w.certARN),
	})
	if !call.end(res, err, "") {
		return false
	}
	s.acked = want
	s.acked.ETag = aws.ToString(out.ETag)
	return true
}

// delete deletes the slot's disabled distribution, If-Match the
// acknowledged ETag.
func (w *writer) delete(ctx context.Context, c *apiClients, s *slot, res *writerResult) bool {
	cur := s.acked
	call := w.begin(s, slotInput{Kind: opDelete, Gen: cur.Gen, Expect: cur.Comment}, version{})
	_, err := c.cf.DeleteDistribution(ctx, &cloudfront.DeleteDistributionInput{
		Id: aws.String(cur.ID), IfMatch: aws.String(cur.ETag),
	})
	// Refused while the disabled configuration is still deploying.
	if !call.end(res, err, "", outNotDisabled) {
		return false
	}
	if err == nil {
		s.acked = version{}
	}
	return true
}

// readConfig reads the slot with GetDistributionConfig.
func (w *writer) readConfig(ctx context.Context, c *apiClients, s *slot, res *writerResult) bool {
	call := w.begin(s, slotInput{Kind: opRead, Gen: s.acked.Gen}, version{})
	out, err := c.cf.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(s.acked.ID)})
	if err != nil {
		return call.end(res, err, "")
	}
	return w.checkRead(call, res, aws.ToString(out.ETag), out.DistributionConfig)
}

// read reads the slot with GetDistribution.
func (w *writer) read(ctx context.Context, c *apiClients, s *slot, res *writerResult) bool {
	call := w.begin(s, slotInput{Kind: opRead, Gen: s.acked.Gen}, version{})
	out, err := c.cf.GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: aws.String(s.acked.ID)})
	if err != nil {
		return call.end(res, err, "")
	}
	return w.checkRead(call, res, aws.ToString(out.ETag), out.Distribution.DistributionConfig)
}

// checkRead records a successful read and checks it against what the
// writer acknowledged: with a single writer per slot, it must be exactly
// that, with that ETag and configuration.
func (w *writer) checkRead(call *call, res *writerResult, etag string, cfg *cftypes.DistributionConfig) bool {
	s := call.s
	comment := aws.ToString(cfg.Comment)
	if !call.end(res, nil, comment) {
		return false
	}
	want := s.config(s.acked.Gen, s.acked.Comment, s.acked.Enabled, w.certARN)
	if comment != s.acked.Comment || etag != s.acked.ETag || fingerprint(cfg) != fingerprint(want) {
		res.surprises = append(res.surprises, fmt.Sprintf("%s: read ETag %s %s; acknowledged ETag %s %s",
			s.name, etag, fingerprint(cfg), s.acked.ETag, fingerprint(want)))
		return false
	}
	return true
}

// list lists the distributions and records what it shows of each of the
// writer's slots.
func (w *writer) list(ctx context.Context, c *apiClients, res *writerResult) bool {
	calls := make([]*call, len(w.slots))
	for i, s := range w.slots {
		calls[i] = w.begin(s, slotInput{Kind: opList}, version{})
	}
	items, err := listDistributions(ctx, c.cf)
	goOn := true
	for _, call := range calls {
		var comment, id string
		if err == nil {
			if d, ok := items[call.s.alias]; ok {
				comment, id = aws.ToString(d.Comment), aws.ToString(d.Id)
			}
		}
		if !call.end(res, err, comment) {
			goOn = false
			continue
		}
		if comment != call.s.acked.Comment || id != call.s.acked.ID {
			res.surprises = append(res.surprises, fmt.Sprintf("%s: listed as %s %q; acknowledged %v",
				call.s.name, id, comment, call.s.acked))
			goOn = false
		}
	}
	return goOn
}

// listDistributions returns every distribution by its first alias. It
// fails if the list takes more than one page: one page is one read.
func listDistributions(ctx context.Context, cf *cloudfront.Client) (map[string]cftypes.DistributionSummary, error) {
	out, err := cf.ListDistributions(ctx, &cloudfront.ListDistributionsInput{})
	if err != nil {
		return nil, err
	}
	l := out.DistributionList
	if aws.ToBool(l.IsTruncated) {
		return nil, fmt.Errorf("the distribution list is truncated at %d items", len(l.Items))
	}
	byAlias := make(map[string]cftypes.DistributionSummary, len(l.Items))
	for _, d := range l.Items {
		alias := ""
		if d.Aliases != nil && len(d.Aliases.Items) > 0 {
			alias = d.Aliases.Items[0]
		}
		byAlias[alias] = d
	}
	return byAlias, nil
}

// classify sorts a request's error: o is its outcome; sent is false if the
// request never reached a server (the connection was refused); responded
// is true if an HTTP response came back; unexpected is an error no correct
// server gives this workload.
func classify(err error) (o outcome, sent, responded bool, unexpected error) {
	if err == nil {
		return outOK, true, true, nil
	}
	// The SDK wraps transport failures in a ResponseError too, with an
	// empty response.
	status := 0
	if re, ok := errors.AsType[*smithyhttp.ResponseError](err); ok && re.Response != nil && re.Response.Response != nil {
		status = re.Response.StatusCode
	}
	responded = status != 0
	if apiErr, ok := errors.AsType[smithy.APIError](err); ok {
		switch apiErr.ErrorCode() {
		case "PreconditionFailed":
			return outPreconditionFailed, true, true, nil
		case "NoSuchDistribution":
			return outNoSuchDistribution, true, true, nil
		case "CNAMEAlreadyExists":
			return outAliasTaken, true, true, nil
		case "DistributionNotDisabled":
			return outNotDisabled, true, true, nil
		}
	}
	switch {
	case status >= 400 && status < 500:
		// A refusal the workload should never cause. Whether it wrote
		// anything is for the history to tell.
		return outUnknown, true, true, err
	case responded:
		// A 5xx, or a success whose body the kill cut short.
		return outUnknown, true, true, nil
	}
	if opErr, ok := errors.AsType[*net.OpError](err); ok && opErr.Op == "dial" {
		return outUnknown, false, false, nil
	}
	return outUnknown, true, false, nil
}
