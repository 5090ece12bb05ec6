package console

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/portico-edge/portico/internal/control"
)

// chromiumPath is where Debian's chromium package installs the browser.
const chromiumPath = "/usr/bin/chromium"

// TestBrowserSeedWalkthrough drives the console in a real headless Chromium,
// script included: sign in, import the certificate through the form,
// create the seed's distribution by clicking and typing, see its page
// show the domain name and Deployed, and invalidate a cache tag softly.
//
// It skips when Chromium is not installed, unless PORTICO_REQUIRE_BROWSER=1.
// With PORTICO_CONSOLE_SCREENSHOTS=<dir> it saves screenshots of the filled
// create form and of the distribution page there.
func TestBrowserSeedWalkthrough(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("PORTICO_REQUIRE_BROWSER") == "1" {
			t.Fatalf("PORTICO_REQUIRE_BROWSER=1 but %s is missing: apt-get install -y chromium", chromiumPath)
		}
		t.Skipf("%s is missing (apt-get install -y chromium); set PORTICO_REQUIRE_BROWSER=1 to make this a failure", chromiumPath)
	}
	e := newEnv(t, func(s *control.Service) { s.DeployWait = 2 * time.Second })
	cert := issueCert(t, customDomain)

	// The simulated edge serves every revision as soon as it is written.
	edgeCtx, stopEdge := context.WithCancel(context.Background())
	edgeDone := make(chan struct{})
	go func() {
		defer close(edgeDone)
		for rev := range e.svc.Watch(edgeCtx, 0) {
			e.tracker.Applied("edge", rev)
		}
	}()
	t.Cleanup(func() { stopEdge(); <-edgeDone })

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	defer cancelBrowser()
	// The first action starts the browser; it must not run under a deadline.
	if err := chromedp.Do(browserCtx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	ctx, cancel := context.WithTimeout(browserCtx, 30*time.Second)
	defer cancel()
	base := e.srv.URL
	do := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
			t.Fatalf("%s: %v\npage:\n%s", step, err, html)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}

	do("sign in",
		chromedp.Navigate(base+"/console/"),
		chromedp.SendKeys(chromedp.ID("access_key_id"), testAccessKeyID),
		chromedp.SendKeys(chromedp.ID("secret_access_key"), testSecret),
		chromedp.Click(chromedp.CSS(`form[action="/console/signin"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`main a.button.primary[href="/console/distributions/create"]`)),
	)

	do("import the certificate",
		chromedp.Click(chromedp.CSS(`nav a[href="/console/certificates"]`)),
		chromedp.Click(chromedp.CSS(`main a.button.primary[href="/console/certificates/import"]`)),
		chromedp.WaitVisible(chromedp.ID("certificate")),
		chromedp.SetValue(chromedp.ID("certificate"), cert.certPEM),
		chromedp.SetValue(chromedp.ID("private_key"), cert.keyPEM),
		chromedp.SetValue(chromedp.ID("chain"), cert.chainPEM),
		chromedp.Click(chromedp.CSS(`form[action="/console/certificates/import"] button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash.success`)),
	)
	if got := text(".flash.success"); got != "Certificate imported." {
		t.Fatalf("after import the page says %q", got)
	}
	certs, err := e.svc.ListCertificates(context.Background())
	if err != nil || len(certs) != 1 {
		t.Fatalf("ListCertificates = %d, %v; want the imported certificate", len(certs), err)
	}

	// Steps 2–7 of the seed, in the create form. The forwarded headers are
	// added one row at a time with the script's "Add header" button.
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.Click(chromedp.CSS(`nav a[href="/console/distributions"]`)),
		chromedp.Click(chromedp.CSS(`main a.button.primary[href="/console/distributions/create"]`)),
		chromedp.WaitVisible(chromedp.ID("origin_domain")),
		chromedp.SendKeys(chromedp.ID("origin_domain"), originDomain),
		chromedp.SendKeys(chromedp.ID("origin_id"), originID),
		chromedp.Click(chromedp.CSS(`input[name=origin_protocol][value=https-only]`)),
		chromedp.SendKeys(chromedp.CSS(`#custom-headers input[name=ch_name]`), "cname-api-key"),
		chromedp.SendKeys(chromedp.CSS(`#custom-headers input[name=ch_value]`), cnameAPIKey),
		chromedp.Click(chromedp.CSS(`input[name=viewer_protocol][value=redirect-to-https]`)),
		chromedp.Click(chromedp.CSS(`input[name=allowed_methods][value="` + methodsAll + `"]`)),
		choose("headers", "whitelist"),
		chromedp.WaitVisible(chromedp.CSS(`#fwd-headers input`)),
	}
	for i, h := range seedHeaders {
		if i > 0 {
			steps = append(steps, chromedp.Click(chromedp.CSS(`button[data-add=fwd-headers]`)))
		}
		steps = append(steps, chromedp.SendKeys(chromedp.CSS(fmt.Sprintf(`#fwd-headers .row:nth-child(%d) input`, i+1)), h))
	}
	steps = append(steps,
		choose("query_strings", "all"),
		choose("cookies", "all"),
		chromedp.SendKeys(chromedp.CSS(`#aliases input[name=alias]`), customDomain),
		choose("certificate", certs[0].ARN),
		chromedp.SendKeys(chromedp.ID("comment"), seedComment),
	)
	do("fill in the create form", steps...)
	screenshot(t, ctx, "create-form.png")
	do("create the distribution",
		chromedp.Click(chromedp.CSS(`.actions button.primary[value=save]`)),
		chromedp.WaitVisible(chromedp.ID("domain-name")),
	)

	// The page refreshes itself while In progress.
	deadline := time.Now().Add(15 * time.Second)
	for text("#status") != "Deployed" {
		if time.Now().After(deadline) {
			t.Fatalf("the distribution's status stayed %q", text("#status"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	id := filepath.Base(strings.SplitN(loc, "?", 2)[0])
	if got, want := text("#domain-name"), strings.ToLower(id)+".portico.localhost"; got != want {
		t.Errorf("distribution page shows domain name %q, want %q", got, want)
	}
	screenshot(t, ctx, "distribution.png")

	d, err := e.svc.GetDistribution(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	assertConfig(t, &d.Config, seedConfig(d.Config.CallerReference, certs[0].ARN))
	page, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page, cnameAPIKey) {
		t.Error("the distribution page shows the custom header value")
	}

	do("invalidate a cache tag softly",
		chromedp.Click(chromedp.CSS(`a[href="/console/distributions/`+id+`/invalidations"]`)),
		chromedp.WaitVisible(chromedp.ID("tags")),
		chromedp.SendKeys(chromedp.ID("tags"), "product-42"),
		chromedp.Click(chromedp.CSS(`input[name=soft]`)),
		chromedp.Click(chromedp.CSS(`form[action$="/invalidations"] button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash.success`)),
	)
	if got := text("table.list tbody tr:first-child td:last-child"); got != "Tags: product-42\nSoft purge" {
		t.Errorf("the invalidation's row shows %q, want the tag and Soft purge", got)
	}
	screenshot(t, ctx, "invalidations.png")
	invs, _, _, err := e.svc.ListInvalidations(context.Background(), id, "", 10)
	if err != nil || len(invs) != 1 || len(invs[0].Paths) != 0 || !reflect.DeepEqual(invs[0].Tags, []string{"product-42"}) || !invs[0].Soft {
		t.Errorf("ListInvalidations = %+v, %v; want one soft purge of the tag product-42", invs, err)
	}
}

// choose selects a value of a select, as picking it with the mouse does:
// the value changes and a change event fires.
func choose(id, value string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(() => {
		const el = document.getElementById(%q);
		el.value = %q;
		el.dispatchEvent(new Event("change", {bubbles: true}));
		return el.value;
	})()`, id, value)
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		got, err := chromedp.Evaluate[string](js)(ctx, t)
		if err == nil && got != value {
			err = fmt.Errorf("select %s has no option %q", id, value)
		}
		return err
	})
}

// screenshot saves a full-page screenshot into $PORTICO_CONSOLE_SCREENSHOTS,
// if set.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("PORTICO_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
