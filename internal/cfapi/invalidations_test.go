package cfapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/portico-edge/portico"
	"github.com/portico-edge/portico/internal/control"
)

const purgeOpen = `<PorticoPurge xmlns="https://portico.dev/2026/purge">`

// batchDoc returns an InvalidationBatch document with the given Paths
// element content and extra elements after CallerReference.
func batchDoc(paths, extra string) string {
	return `<InvalidationBatch xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Paths>` + paths +
		`</Paths><CallerReference>ref</CallerReference>` + extra + `</InvalidationBatch>`
}

func TestSplitPurge(t *testing.T) {
	tests := []struct {
		name string
		body string
		// rest is the document left for CloudFront's decoding; "" when it
		// is the body itself.
		rest     string
		soft     bool
		tags     []string
		ext      bool
		wantCode string
	}{
		{name: "plain CloudFront batch", body: batchDoc(`<Quantity>1</Quantity><Items><Path>/a</Path></Items>`, "")},
		{name: "not XML", body: "<InvalidationBatch><Paths>"},
		{name: "element nested deeper is left alone", body: batchDoc(`<Quantity>0</Quantity>`+purgeOpen+`</PorticoPurge>`, "")},
		{
			name: "soft with tags", ext: true, soft: true, tags: []string{"a", "b"},
			body: batchDoc(`<Quantity>0</Quantity>`, purgeOpen+`<Mode>soft</Mode><Tags><Quantity>2</Quantity><Items><Tag>a</Tag><Tag>b</Tag></Items></Tags></PorticoPurge>`),
			rest: batchDoc(`<Quantity>0</Quantity>`, ""),
		},
		{
			name: "first child, with white space and comments", ext: true, tags: []string{"x&y"},
			body: `<InvalidationBatch xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">` + "\n  " + purgeOpen + "\n    <!-- c -->\n" +
				`    <Tags> <Quantity>1</Quantity> <Items> <Tag>x&amp;y</Tag> </Items> </Tags>` + "\n  </PorticoPurge>\n</InvalidationBatch>",
			rest: `<InvalidationBatch xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">` + "\n  \n</InvalidationBatch>",
		},
		{
			name: "self-closing: hard, no tags", ext: true,
			body: batchDoc(`<Quantity>0</Quantity>`, `<PorticoPurge xmlns="https://portico.dev/2026/purge"/>`),
			rest: batchDoc(`<Quantity>0</Quantity>`, ""),
		},
		{
			name: "empty Tags", ext: true,
			body: batchDoc(`<Quantity>0</Quantity>`, purgeOpen+`<Tags><Quantity>0</Quantity><Items/></Tags></PorticoPurge>`),
			rest: batchDoc(`<Quantity>0</Quantity>`, ""),
		},
		{name: "no namespace", body: batchDoc("", `<PorticoPurge><Mode>soft</Mode></PorticoPurge>`), wantCode: portico.ErrMalformedInput},
		{name: "other namespace", body: batchDoc("", `<PorticoPurge xmlns="https://example.com/"/>`), wantCode: portico.ErrMalformedInput},
		{name: "extra namespace declaration", body: batchDoc("", `<PorticoPurge xmlns="https://portico.dev/2026/purge" xmlns:p="x"/>`), wantCode: portico.ErrMalformedInput},
		{name: "child attribute", body: batchDoc("", purgeOpen+`<Mode a="b">soft</Mode></PorticoPurge>`), wantCode: portico.ErrMalformedInput},
		{name: "element in Mode", body: batchDoc("", purgeOpen+`<Mode><b>soft</b></Mode></PorticoPurge>`), wantCode: portico.ErrMalformedInput},
		{name: "mode with spaces", body: batchDoc("", purgeOpen+`<Mode> soft </Mode></PorticoPurge>`), wantCode: portico.ErrInvalidArgument},
		{name: "mode in capitals", body: batchDoc("", purgeOpen+`<Mode>SOFT</Mode></PorticoPurge>`), wantCode: portico.ErrInvalidArgument},
		{name: "two Tags", body: batchDoc("", purgeOpen+`<Tags><Quantity>0</Quantity></Tags><Tags><Quantity>0</Quantity></Tags></PorticoPurge>`), wantCode: portico.ErrMalformedInput},
		{name: "two Items", body: batchDoc("", purgeOpen+`<Tags><Quantity>0</Quantity><Items/><Items/></Tags></PorticoPurge>`), wantCode: portico.ErrMalformedInput},
		{name: "quantity not a number", body: batchDoc("", purgeOpen+`<Tags><Quantity>one</Quantity></Tags></PorticoPurge>`), wantCode: portico.ErrMalformedInput},
		{name: "quantity too large", body: batchDoc("", purgeOpen+`<Tags><Quantity>99999999999</Quantity></Tags></PorticoPurge>`), wantCode: portico.ErrMalformedInput},
		{name: "negative quantity", body: batchDoc("", purgeOpen+`<Tags><Quantity>-1</Quantity></Tags></PorticoPurge>`), wantCode: portico.ErrInconsistentQuantities},
		{name: "fewer items than quantity", body: batchDoc("", purgeOpen+`<Tags><Quantity>1</Quantity></Tags></PorticoPurge>`), wantCode: portico.ErrInconsistentQuantities},
		{name: "processing instruction inside", body: batchDoc("", purgeOpen+`<?x y?></PorticoPurge>`), wantCode: portico.ErrMalformedInput},
		{name: "mismatched end tag", body: batchDoc("", purgeOpen+`<Mode>soft</Tags></PorticoPurge>`), wantCode: portico.ErrMalformedInput},
		{name: "cut short", body: `<InvalidationBatch>` + purgeOpen + `<Mode>soft`, wantCode: portico.ErrMalformedInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rest, req, err := splitPurge([]byte(tt.body))
			if tt.wantCode != "" {
				pe, ok := errors.AsType[*portico.Error](err)
				if !ok || pe.Code != tt.wantCode {
					t.Fatalf("splitPurge error = %v, want code %s", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("splitPurge: %v", err)
			}
			want := tt.rest
			if want == "" {
				want = tt.body
			}
			if string(rest) != want {
				t.Errorf("rest = %s\nwant  %s", rest, want)
			}
			switch {
			case !tt.ext && req != nil:
				t.Errorf("request = %+v, want none", req)
			case tt.ext && req == nil:
				t.Errorf("no request, want soft=%v tags=%q", tt.soft, tt.tags)
			case tt.ext && (req.soft != tt.soft || !slices.Equal(req.tags, tt.tags)):
				t.Errorf("request = %+v, want soft=%v tags=%q", req, tt.soft, tt.tags)
			}
		})
	}
}

// TestPurgeExtensionWithSDK creates invalidations that use the extension
// over the wire, then reads them with the AWS SDK, which must take them
// as CloudFront's: the extension element is skipped, everything else is
// there. A CloudFront invalidation created by the SDK is unaffected.
func TestPurgeExtensionWithSDK(t *testing.T) {
	ctx := t.Context()
	env := newAPIEnv(t, time.Time{})
	cf := env.sdkClient(testAccessKey, testSecretKey)
	certARN := env.importCert(t, time.Now(), "login.example.com")
	created, err := cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{
		DistributionConfig: seedSDKConfig("purge-sdk", certARN, "login.example.com"),
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(created.Distribution.Id)

	post := func(body string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, env.server.URL+Prefix+"distribution/"+id+"/invalidation", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		sign(t, req, []byte(body), testSecretKey)
		resp, err := env.server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	invIDs := map[string]string{}
	for ref, body := range map[string]string{
		"soft-tags": strings.Replace(batchDoc(`<Quantity>0</Quantity>`, purgeOpen+
			`<Mode>soft</Mode><Tags><Quantity>2</Quantity><Items><Tag>product-42</Tag><Tag>shoes</Tag></Items></Tags></PorticoPurge>`), "ref", "soft-tags", 1),
		"hard-tag-and-path": strings.Replace(batchDoc(`<Quantity>1</Quantity><Items><Path>/api/*</Path></Items>`, purgeOpen+
			`<Tags><Quantity>1</Quantity><Items><Tag>product-42</Tag></Items></Tags></PorticoPurge>`), "ref", "hard-tag-and-path", 1),
	} {
		status, body := post(body)
		if status != http.StatusCreated || !strings.Contains(body, purgeOpen) {
			t.Fatalf("creating %s: %d\n%s", ref, status, body)
		}
		_, after, _ := strings.Cut(body, "<Id>")
		invIDs[ref], _, _ = strings.Cut(after, "</Id>")
	}
	plain, err := cf.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{DistributionId: &id, InvalidationBatch: &types.InvalidationBatch{
		CallerReference: aws.String("plain"), Paths: &types.Paths{Quantity: aws.Int32(1), Items: []string{"/index.html"}},
	}})
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		ref   string
		paths []string
	}{
		{"soft-tags", nil},
		{"hard-tag-and-path", []string{"/api/*"}},
	} {
		got, err := cf.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{DistributionId: &id, Id: aws.String(invIDs[tt.ref])})
		if err != nil {
			t.Fatalf("GetInvalidation %s: %v", tt.ref, err)
		}
		b := got.Invalidation.InvalidationBatch
		if aws.ToString(got.Invalidation.Id) != invIDs[tt.ref] || aws.ToString(got.Invalidation.Status) != portico.StatusInProgress ||
			got.Invalidation.CreateTime == nil || aws.ToString(b.CallerReference) != tt.ref ||
			aws.ToInt32(b.Paths.Quantity) != int32(len(tt.paths)) || !slices.Equal(b.Paths.Items, tt.paths) {
			t.Errorf("GetInvalidation %s = %+v, batch %+v; want the batch with paths %q", tt.ref, got.Invalidation, b, tt.paths)
		}
	}

	env.deploy(t)
	waiter := cloudfront.NewInvalidationCompletedWaiter(cf, func(o *cloudfront.InvalidationCompletedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 50*time.Millisecond
	})
	for _, invID := range invIDs {
		if err := waiter.Wait(ctx, &cloudfront.GetInvalidationInput{DistributionId: &id, Id: aws.String(invID)}, 10*time.Second); err != nil {
			t.Fatalf("waiting for %s: %v", invID, err)
		}
	}
	var listed []string
	p := cloudfront.NewListInvalidationsPaginator(cf, &cloudfront.ListInvalidationsInput{DistributionId: &id, MaxItems: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.InvalidationList.Items {
			if aws.ToString(s.Status) != portico.StatusCompleted {
				t.Errorf("listed %s as %s, want Completed", aws.ToString(s.Id), aws.ToString(s.Status))
			}
			listed = append(listed, aws.ToString(s.Id))
		}
	}
	want := []string{aws.ToString(plain.Invalidation.Id), invIDs["soft-tags"], invIDs["hard-tag-and-path"]}
	if slices.Sort(listed); !slices.Equal(listed, slices.Sorted(slices.Values(want))) {
		t.Errorf("ListInvalidations = %q, want %q", listed, want)
	}
	stored, err := env.svc.GetInvalidation(ctx, id, invIDs["soft-tags"])
	if err != nil || !stored.Soft || !slices.Equal(stored.Tags, []string{"product-42", "shoes"}) || len(stored.Paths) != 0 {
		t.Errorf("stored invalidation = %+v, %v; want soft, tags product-42 and shoes, no paths", stored, err)
	}
	if stored, err := env.svc.GetInvalidation(ctx, id, aws.ToString(plain.Invalidation.Id)); err != nil || stored.Soft || stored.Tags != nil {
		t.Errorf("plain invalidation stored as %+v, %v; want no extension", stored, err)
	}
}

// TestPurgeExtensionLimits checks that tags count against the batch limit
// like paths, with CloudFront's BatchTooLarge, and that nothing is stored.
func TestPurgeExtensionLimits(t *testing.T) {
	env := newAPIEnv(t, time.Time{})
	cf := env.sdkClient(testAccessKey, testSecretKey)
	created, err := cf.CreateDistribution(t.Context(), &cloudfront.CreateDistributionInput{
		DistributionConfig: seedSDKConfig("purge-limits", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(created.Distribution.Id)
	var tags strings.Builder
	for i := range 3000 {
		tags.WriteString("<Tag>t" + string(rune('a'+i%26)) + "</Tag>")
	}
	body := batchDoc(`<Quantity>1</Quantity><Items><Path>/a</Path></Items>`, purgeOpen+`<Tags><Quantity>3000</Quantity><Items>`+tags.String()+`</Items></Tags></PorticoPurge>`)
	before := env.dump(t)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, env.server.URL+Prefix+"distribution/"+id+"/invalidation", strings.NewReader(body))
	sign(t, req, []byte(body), testSecretKey)
	resp, err := env.server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(got, []byte("<Code>BatchTooLarge</Code>")) ||
		!bytes.Contains(got, []byte("at most 3000 paths and tags")) {
		t.Errorf("3,001 paths and tags: %d\n%s\nwant 413 BatchTooLarge", resp.StatusCode, got)
	}
	if after := env.dump(t); len(after) != len(before) {
		t.Errorf("a refused batch changed the store: %d keys → %d", len(before), len(after))
	}
}

func FuzzSplitPurge(f *testing.F) {
	f.Add([]byte(batchDoc(`<Quantity>1</Quantity><Items><Path>/a</Path></Items>`, "")))
	f.Add([]byte(batchDoc(`<Quantity>0</Quantity>`, purgeOpen+`<Mode>soft</Mode><Tags><Quantity>1</Quantity><Items><Tag>a</Tag></Items></Tags></PorticoPurge>`)))
	f.Add([]byte(batchDoc(`<Quantity>0</Quantity>`, `<PorticoPurge xmlns="https://portico.dev/2026/purge"/>`+purgeOpen+`</PorticoPurge>`)))
	f.Add([]byte(`<InvalidationBatch>` + purgeOpen + `<Tags><Quantity>1</Quantity><Items><Tag>&amp;</Tag></Items>`))
	f.Add([]byte(`<!DOCTYPE d [<!ENTITY e "x">]><InvalidationBatch>` + purgeOpen + `<Mode>&e;</Mode></PorticoPurge></InvalidationBatch>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rest, req, err := splitPurge(body)
		if err != nil {
			if _, ok := errors.AsType[*portico.Error](err); !ok {
				t.Fatalf("splitPurge error %v is not a *portico.Error", err)
			}
			return
		}
		if req == nil {
			if !bytes.Equal(rest, body) {
				t.Fatalf("no extension, yet the body changed:\n%q\n%q", body, rest)
			}
			return
		}
		// What is left holds no extension: only one is allowed.
		if again, req2, err := splitPurge(rest); err != nil || req2 != nil || !bytes.Equal(again, rest) {
			t.Fatalf("the rest %q still holds an extension: %+v, %v", rest, req2, err)
		}
		batch, err := decodeCreateInvalidation(body)
		if err != nil {
			return
		}
		// An accepted request survives a round trip through a client's
		// encoding, and the extension one through the response's.
		out, err := EncodeInvalidationBatch(batch)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := decodeCreateInvalidation(out); err != nil || !reflect.DeepEqual(again, batch) {
			t.Fatalf("round trip of %+v through\n%s\ngave %+v, %v", batch, out, again, err)
		}
		inv := &portico.Invalidation{Paths: batch.Paths, CallerReference: batch.CallerReference, Tags: batch.Tags, Soft: batch.Soft}
		out, err = encodeDocument(documentHeader, "Invalidation", invalidationDocument(inv))
		if err != nil {
			t.Fatal(err)
		}
		if len(batch.Tags) > 0 || batch.Soft {
			if !bytes.Contains(out, []byte(purgeOpen)) {
				t.Fatalf("the answer for %+v lacks the extension:\n%s", batch, out)
			}
		}
	})
}

// TestEncodeInvalidationBatch checks the documents a client sends:
// CloudFront's own for a hard purge of paths, with the extension for tags
// or a soft purge, each read back as it was meant.
func TestEncodeInvalidationBatch(t *testing.T) {
	ns := `xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"`
	tests := []struct {
		name  string
		batch control.InvalidationBatch
		want  string
	}{
		{"paths: CloudFront's own batch", control.InvalidationBatch{CallerReference: "r", Paths: []string{"/a", "/b*"}},
			`<InvalidationBatch ` + ns + `><Paths><Quantity>2</Quantity><Items><Path>/a</Path><Path>/b*</Path></Items></Paths><CallerReference>r</CallerReference></InvalidationBatch>`},
		{"soft paths", control.InvalidationBatch{CallerReference: "r", Paths: []string{"/a"}, Soft: true},
			`<InvalidationBatch ` + ns + `><Paths><Quantity>1</Quantity><Items><Path>/a</Path></Items></Paths><CallerReference>r</CallerReference>` +
				purgeOpen + `<Mode>soft</Mode></PorticoPurge></InvalidationBatch>`},
		{"tags only", control.InvalidationBatch{CallerReference: "r", Tags: []string{"t&1", "t2"}},
			`<InvalidationBatch ` + ns + `><Paths><Quantity>0</Quantity></Paths><CallerReference>r</CallerReference>` +
				purgeOpen + `<Mode>hard</Mode><Tags><Quantity>2</Quantity><Items><Tag>t&amp;1</Tag><Tag>t2</Tag></Items></Tags></PorticoPurge></InvalidationBatch>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EncodeInvalidationBatch(tt.batch)
			if err != nil {
				t.Fatal(err)
			}
			if want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + tt.want; string(got) != want {
				t.Errorf("document =\n%s\nwant\n%s", got, want)
			}
			back, err := decodeCreateInvalidation(got)
			if err != nil || !reflect.DeepEqual(back, tt.batch) {
				t.Errorf("read back as %+v, %v; want %+v", back, err, tt.batch)
			}
		})
	}
}
