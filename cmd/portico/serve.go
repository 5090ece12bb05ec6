package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/portico-edge/portico/internal/acmapi"
	"github.com/portico-edge/portico/internal/certs"
	"github.com/portico-edge/portico/internal/cfapi"
	"github.com/portico-edge/portico/internal/console"
	"github.com/portico-edge/portico/internal/control"
	"github.com/portico-edge/portico/internal/deploy"
	"github.com/portico-edge/portico/internal/dnsserver"
	"github.com/portico-edge/portico/internal/edgeserver"
	"github.com/portico-edge/portico/internal/explain"
	"github.com/portico-edge/portico/internal/httpcache"
	"github.com/portico-edge/portico/internal/origin"
	"github.com/portico-edge/portico/internal/sigv4"
	"github.com/portico-edge/portico/internal/snapshot"
	"github.com/portico-edge/portico/internal/store/boltstore"
)

// serveConfig is the command line of `portico serve`.
type serveConfig struct {
	dataDir    string
	apiAddr    string
	httpAddr   string
	httpsAddr  string
	dnsAddr    string
	edgeDomain string
	publicIPs  []netip.Addr
	originCA   string
	// originResolve maps origin host names to the addresses Portico
	// connects to for them, as curl's --resolve does (certificates are still
	// verified against the host name).
	originResolve map[string]netip.Addr
	cacheBytes    int64
	cacheDisk     int64
	accessLog     bool
	// invalidationLimits are CloudFront's quotas unless raised.
	invalidationLimits control.InvalidationLimits
	// storeWait is how long Open waits for the store's lock, held by the
	// process being restarted until it has drained.
	storeWait time.Duration
}

func parseServeFlags(args []string, stderr io.Writer) (*serveConfig, error) {
	c := &serveConfig{}
	fs := flag.NewFlagSet("portico serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.dataDir, "data", "./portico-data", "`directory` of the embedded store, credentials and edge keys")
	fs.StringVar(&c.apiAddr, "api", "127.0.0.1:9000", "`address` of the control plane: CloudFront and ACM APIs, and the console under /console/")
	fs.StringVar(&c.httpAddr, "http", ":8080", "`address` of the viewer-facing HTTP listener")
	fs.StringVar(&c.httpsAddr, "https", ":8443", "`address` of the viewer-facing HTTPS listener")
	fs.StringVar(&c.dnsAddr, "dns", "127.0.0.1:8053", "`address` of the authoritative DNS server (UDP and TCP)")
	fs.StringVar(&c.edgeDomain, "edge-domain", "portico.localhost", "`domain` under which distributions get their names, <id>.<domain>")
	publicIPs := fs.String("public-ip", "127.0.0.1", "comma-separated `addresses` that DNS answers for distribution names")
	fs.StringVar(&c.originCA, "origin-ca", "", "PEM `file` of extra roots trusted for origin TLS, added to the system roots")
	resolve := fs.String("origin-resolve", "", "comma-separated `host=ip` pairs: connect to ip for origin host, as curl --resolve does; TLS is still verified for host")
	fs.Int64Var(&c.cacheBytes, "cache-memory", 256<<20, "memory `bytes` of the response cache")
	fs.Int64Var(&c.cacheDisk, "cache-disk", 1<<30, "disk `bytes` of the response cache, kept in the data directory across restarts; 0 turns the disk tier off")
	fs.DurationVar(&c.storeWait, "store-wait", time.Minute, "how long to wait for another process (the one being restarted, which drains for up to 30s) to release the store")
	fs.IntVar(&c.invalidationLimits.Paths, "max-invalidation-paths", control.MaxInvalidationPaths,
		"most `paths` (and cache tags) one invalidation may hold, and that may be in progress per distribution (CloudFront's quota: 3000)")
	fs.IntVar(&c.invalidationLimits.Wildcards, "max-invalidation-wildcards", control.MaxWildcardsInProgress,
		"most wildcard invalidation `paths` that may be in progress per distribution (CloudFront's quota: 15)")
	fs.BoolVar(&c.accessLog, "access-log", false, "log one line per viewer request to standard error (method, host, path without query, status, bytes, duration, cache result)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	for _, s := range strings.Split(*publicIPs, ",") {
		ip, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return nil, usageError{fmt.Sprintf("--public-ip: %q is not an IP address", s)}
		}
		c.publicIPs = append(c.publicIPs, ip)
	}
	for _, pair := range strings.Split(*resolve, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		host, addr, ok := strings.Cut(pair, "=")
		ip, err := netip.ParseAddr(addr)
		if !ok || err != nil || host == "" {
			return nil, usageError{fmt.Sprintf("--origin-resolve: %q is not host=ip", pair)}
		}
		if c.originResolve == nil {
			c.originResolve = make(map[string]netip.Addr)
		}
		c.originResolve[strings.ToLower(host)] = ip
	}
	c.edgeDomain = strings.TrimSuffix(strings.ToLower(c.edgeDomain), ".")
	if strings.Count(c.edgeDomain, ".") < 1 || strings.ContainsAny(c.edgeDomain, " /*:") {
		return nil, usageError{fmt.Sprintf("--edge-domain: %q is not a domain name with at least two labels", c.edgeDomain)}
	}
	if c.invalidationLimits.Paths < 1 || c.invalidationLimits.Wildcards < 1 {
		return nil, usageError{"--max-invalidation-paths and --max-invalidation-wildcards must be at least 1"}
	}
	if c.cacheBytes < 0 || c.cacheDisk < 0 {
		return nil, usageError{"--cache-memory and --cache-disk must not be negative"}
	}
	return c, nil
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseServeFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	// The log and the access log share standard error, one Write per line.
	stderr = &lockedWriter{w: stderr}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// What the standard library still prints through package log (such as
	// net/http's "Unsolicited response received on idle HTTP channel") goes
	// to the same handler.
	slog.SetDefault(log)

	if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if err := checkDataDir(cfg.dataDir); err != nil {
		return err
	}
	// What can fail without the store fails here, before this process
	// takes the listeners of one that serves (see serveOn for the rest).
	if cfg.cacheDisk > 0 {
		if err := os.MkdirAll(filepath.Join(cfg.dataDir, cacheDir), 0o700); err != nil {
			return fmt.Errorf("cache: %w", err)
		}
	}
	creds, credsPath, generated, err := loadCredentials(cfg.dataDir, getenv)
	if err != nil {
		return err
	}
	accountID, err := loadAccountID(cfg.dataDir)
	if err != nil {
		return fmt.Errorf("account ID: %w", err)
	}
	edgeCert, edgeCAPath, err := loadEdgeCertificate(cfg.dataDir, cfg.edgeDomain, time.Now())
	if err != nil {
		return fmt.Errorf("edge certificate: %w", err)
	}
	roots, err := originRoots(cfg.originCA)
	if err != nil {
		return err
	}
	log.Info("heap limit set", "cache_memory", cfg.cacheBytes, "limit", limitHeap(cfg.cacheBytes, getenv("GOMEMLIMIT")))
	// Restarting without dropping requests (see the README and
	// handoff.go): a process serving from the same data directory hands
	// over its listening sockets, DNS ones included, so both share one
	// accept queue (one receive queue for DNS over UDP) and nothing
	// waiting in it is lost; it then drains, and answers DNS until this
	// process serves, or serves again if this one fails to start: its
	// exit ends the exchange. Without one, the TCP listeners are bound
	// anew, with SO_REUSEPORT so that a process restarted by SIGTERM
	// instead can still bind them alongside the old one. Either way nothing is
	// accepted, nor read, until the configuration is loaded: connections
	// and queries wait in the sockets' queues. The store is locked by the
	// old process until it has drained, so openStore waits for it up to
	// --store-wait (a signal stops the wait). A port taken by a process
	// without SO_REUSEPORT still fails the start-up with one clear line
	// and exit code 1.
	lc := net.ListenConfig{Control: reusePort}
	acq, err := acquireListeners(ctx, log, cfg.dataDir, lc, []listenSpec{
		{"api", cfg.apiAddr}, {"http", cfg.httpAddr}, {"https", cfg.httpsAddr},
	}, cfg.dnsAddr)
	if err != nil {
		return err
	}
	s := &startup{cfg: cfg, log: log, lc: lc, creds: creds, credsPath: credsPath, generated: generated,
		accountID: accountID, edgeCert: edgeCert, edgeCAPath: edgeCAPath, roots: roots, stdout: stdout, stderr: stderr}
	for resumed := false; ; resumed = true {
		resume, err := serveOn(ctx, s, acq)
		if resumed && errors.Is(err, boltstore.ErrInUse) {
			// The new process was only slow, and took the store after
			// all: it serves on the same sockets.
			log.Warn("the new process holds the store: leaving the sockets to it", "err", err)
			return nil
		}
		if resume == nil {
			return err
		}
		acq = resume
	}
}

// startup is what serve prepares, once, before it acquires the listeners.
type startup struct {
	cfg        *serveConfig
	log        *slog.Logger
	lc         net.ListenConfig // for the sockets not handed over
	creds      credentials
	credsPath  string // where creds are kept; "" when from the environment
	generated  bool   // whether creds were generated now
	accountID  string
	edgeCert   *tls.Certificate
	edgeCAPath string
	roots      *x509.CertPool // trusted for origin TLS
	stdout     io.Writer
	stderr     io.Writer // the log's destination, safe for concurrent use
}

// A lockedWriter makes a writer safe for concurrent use, one Write at a
// time.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// serveOn opens the store and serves on the sockets that acq holds until
// ctx is done, or a server fails, or it has handed them over to a new
// process; then it drains, and closes them. If that process fails to
// start, serveOn returns resume, duplicates of the sockets that it kept,
// to serve on them again (see hold).
func serveOn(ctx context.Context, s *startup, acq *acquired) (resume *acquired, err error) {
	cfg, log, lc := s.cfg, s.log, s.lc
	creds, accountID, edgeCert, roots := s.creds, s.accountID, s.edgeCert, s.roots
	apiLn, httpLn, httpsLn := acq.lns[0], acq.lns[1], acq.lns[2]
	defer apiLn.Close()
	defer httpLn.Close()
	defer httpsLn.Close()
	if acq.dnsUDP != nil { // the DNS server's from ListenOn on, which closes them first
		defer acq.dnsUDP.Close()
		defer acq.dnsTCP.Close()
	}
	// Until this process serves, or fails to: then the previous one stops
	// answering DNS, or serves again.
	defer acq.from.end()
	log.Info("bound; opening the store", "wait", cfg.storeWait)
	st, err := openStore(ctx, filepath.Join(cfg.dataDir, storeFile), cfg.storeWait)
	if err != nil {
		if ctx.Err() != nil {
			log.Info("stopped while waiting for the store")
			return nil, nil
		}
		return nil, err
	}
	defer st.Close()

	tracker := &deploy.Tracker{}
	svc := &control.Service{
		Store:      st,
		Progress:   tracker,
		EdgeDomain: cfg.edgeDomain,
		AccountID:  accountID,
		Region:     "us-east-1",
		DeployWait: 5 * time.Second,
		Log:        log,

		InvalidationLimits: cfg.invalidationLimits,
	}

	// Data plane.
	cacheCfg := httpcache.Config{MaxBytes: cfg.cacheBytes, Logger: log}
	if cfg.cacheDisk > 0 {
		// Under the data directory, whose store lock keeps a second process
		// away from the cache files too.
		cacheCfg.DiskDir, cacheCfg.DiskMaxBytes = filepath.Join(cfg.dataDir, cacheDir), cfg.cacheDisk
	}
	cache, err := httpcache.Open(cacheCfg)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	defer cache.Close() // after the listeners drain: background refreshes end, queued disk writes land
	transports := origin.NewTransports(roots, log)
	if len(cfg.originResolve) > 0 {
		transports.Resolve = func(hostport string) string {
			host, port, err := net.SplitHostPort(hostport)
			if ip, ok := cfg.originResolve[strings.ToLower(host)]; ok && err == nil {
				return net.JoinHostPort(ip.String(), port)
			}
			return hostport
		}
	}
	stapler := &certs.Stapler{Log: log}
	defer stapler.Close()
	watcher := &snapshot.Watcher{
		Source:   svc,
		Reporter: tracker,
		Edge:     "local",
		Deps: snapshot.Deps{
			Transports:         transports,
			Cache:              cache,
			DefaultCertificate: edgeCert,
			Stapler:            stapler,
			Log:                log,
		},
		Log: log,
	}
	edge := &edgeserver.Server{Snapshot: watcher.Current, DefaultCertificate: edgeCert, Log: log}
	if cfg.accessLog {
		edge.AccessLog = s.stderr
	}
	edgeHTTP, edgeHTTPS := edge.HTTPServer(), edge.HTTPSServer()
	dns := &dnsserver.Server{Zone: cfg.edgeDomain, Addrs: cfg.publicIPs, Names: currentNames(watcher), Log: log, ListenConfig: lc}
	// The sockets handed over, or else new ones: bound only now, with the
	// store, since with SO_REUSEPORT the kernel would share queries out to
	// a new socket that nothing reads while the old process drains.
	var dnsAddr net.Addr
	if acq.dnsUDP != nil {
		dnsAddr, err = acq.dnsUDP.LocalAddr(), dns.ListenOn(acq.dnsUDP, acq.dnsTCP)
	} else {
		dnsAddr, err = dns.Listen(cfg.dnsAddr)
	}
	if err != nil {
		return nil, fmt.Errorf("--dns: %w", err)
	}

	// Control plane.
	// Each API accepts only requests signed for its own service, as AWS does.
	authenticator := func(service string) func(*http.Request, []byte) error {
		v := &sigv4.Verifier{
			Secret: func(id string) (string, bool) {
				return creds.SecretAccessKey, id == creds.AccessKeyID
			},
			Services: []string{service},
		}
		return func(r *http.Request, payload []byte) error {
			_, err := v.Verify(r, payload)
			return err
		}
	}
	sessionKey := make([]byte, 32)
	rand.Read(sessionKey)
	api := apiHandler(
		&cfapi.Handler{Service: svc, Authenticate: authenticator("cloudfront"), Log: log},
		&acmapi.Handler{Service: svc, Authenticate: authenticator("acm"), Log: log},
		&console.Handler{
			Service:    svc,
			Login:      creds.match,
			SessionKey: sessionKey,
			Log:        log,
		},
		&explain.Handler{
			Snapshot:     watcher.Current,
			Source:       svc,
			Cache:        cache,
			Authenticate: authenticator("cloudfront"),
			Log:          log,
		},
	)
	apiServer := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	// The edge starts serving once the stored configuration is loaded; so
	// does DNS, which would otherwise answer SERVFAIL meanwhile.
	watchCtx, stopWatching := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatching()
	watchDone := make(chan error, 1)
	go func() { watchDone <- watcher.Run(watchCtx) }()
	select {
	case <-watcher.Loaded():
	case err := <-watchDone:
		return nil, fmt.Errorf("loading configuration: %w", err)
	case <-ctx.Done():
		return nil, nil
	}

	var drain connDrain
	for _, srv := range []*http.Server{apiServer, edgeHTTP, edgeHTTPS} {
		drain.hook(srv)
	}
	var wg, httpWG sync.WaitGroup // all servers; the HTTP ones
	errc := make(chan error, 4)
	goServe := func(name string, serveFn func() error) {
		wg.Add(1)
		if name != "dns" {
			httpWG.Add(1)
		}
		go func() {
			defer wg.Done()
			if name != "dns" {
				defer httpWG.Done()
			}
			if err := serveFn(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	goServe("api", func() error { return apiServer.Serve(apiLn) })
	goServe("http", func() error { return edgeHTTP.Serve(edge.Listener(httpLn)) })
	goServe("https", func() error { return edgeHTTPS.Serve(edge.TLSListener(httpsLn)) })
	goServe("dns", dns.Serve)
	if err := acq.from.serving(); err != nil {
		log.Warn("listener hand-off: the previous process was not told that this one serves; it stops answering DNS anyway", "err", err)
	}

	printBanner(s.stdout, cfg, apiLn.Addr(), httpLn.Addr(), httpsLn.Addr(), dnsAddr, s.credsPath, s.generated, s.edgeCAPath)
	log.Info("listening", "api", apiLn.Addr().String(), "http", httpLn.Addr().String(),
		"https", httpsLn.Addr().String(), "dns", dnsAddr.String())

	// The next process started on this data directory takes the
	// listeners from here; this one then drains and exits, or serves
	// again should that process fail to start.
	dnsUDP, dnsTCP := dns.Sockets()
	handOff, err := offerListeners(filepath.Join(cfg.dataDir, handoffFile), []namedListener{
		{name: "api", ln: apiLn}, {name: "http", ln: httpLn}, {name: "https", ln: httpsLn},
		{name: dnsRole, pc: dnsUDP}, {name: dnsRole, ln: dnsTCP},
	}, log)
	if err != nil {
		log.Warn("listener hand-off is off: a restart binds new sockets", "err", err)
	}
	defer handOff.Close()

	var runErr error
	handedOver := false
	select {
	case <-ctx.Done():
		log.Info("shutting down: draining in-flight requests")
	case <-handOff.Taken():
		handedOver = true
		log.Info("listeners handed over to a new process: draining in-flight requests")
	case runErr = <-errc:
	}
	// Until the new process says that it serves, this one keeps its
	// sockets, to serve on them again should that process fail to start.
	var held *acquired
	if handedOver {
		if held, err = hold([]net.Listener{apiLn, httpLn, httpsLn}, dnsUDP, dnsTCP); err != nil {
			log.Warn("listener hand-off: keeping the sockets failed: should the new process fail to start, nothing serves", "err", err)
		}
	}
	handOff.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Stop taking new connections: closing the bound sockets (rather than
	// the servers' listeners) lets the TLS handshakes under way complete
	// and their connections be served, so that no viewer whose connection
	// was accepted is turned away. From here on, new connections wait for
	// the next process, which holds the same sockets when it took them
	// over, or are given to it by the kernel if it bound the same
	// addresses. Then stop taking new work everywhere at once, and wait
	// for what is in flight: first the HTTP/1.x requests on connections
	// already accepted (see connDrain), then everything at once.
	for _, ln := range []net.Listener{apiLn, httpLn, httpsLn} {
		ln.Close()
	}
	httpWG.Wait()
	drain.quiesce(shutdownCtx, apiServer, edgeHTTP, edgeHTTPS)
	shutdowns := []func(context.Context) error{apiServer.Shutdown, edgeHTTP.Shutdown, edgeHTTPS.Shutdown}
	if !handedOver {
		shutdowns = append(shutdowns, dns.Shutdown)
	}
	var down sync.WaitGroup
	for _, shutdown := range shutdowns {
		down.Go(func() { shutdown(shutdownCtx) })
	}
	down.Wait()
	stopWatching()
	<-watchDone
	if handedOver {
		// DNS, over the sockets the new process holds too, goes on
		// answering from the configuration in memory until the new process
		// answers as well. That one needs the store first, so release it
		// now, and the cache files, which it guards, with it.
		cache.Close()
		stapler.Close()
		st.Close()
		switch err := handOff.WaitServing(ctx, successorWait); {
		case err == nil:
			log.Info("the new process serves: stopping DNS")
		case ctx.Err() == nil && held != nil:
			// It exited, or was stopped, or hangs: whatever waits in the
			// sockets' queues is served here instead, once the store is
			// open again.
			log.Warn("the new process did not start: serving again on the same sockets", "err", err)
			resume, held = held, nil
		default:
			log.Warn("stopping DNS without word that the new process serves", "err", err)
		}
		dnsCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		dns.Shutdown(dnsCtx)
		cancel()
	}
	held.closeSockets()
	wg.Wait()
	transports.CloseIdleConnections()
	return resume, runErr
}

// successorWait is how long a process that handed its listeners over goes
// on answering DNS, once it has released the store, for the new process to
// load the configuration and serve; if it has not said so by then, the
// old process serves again (see serveOn).
const successorWait = 30 * time.Second

// currentNames adapts the watcher's current snapshot to the DNS server:
// nil until the first snapshot is loaded.
func currentNames(w *snapshot.Watcher) func() dnsserver.Names {
	return func() dnsserver.Names {
		if s := w.Current(); s != nil {
			return s
		}
		return nil
	}
}

// match reports, in constant time, whether id and secret are these
// credentials.
func (c credentials) match(id, secret string) bool {
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(c.AccessKeyID))
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(c.SecretAccessKey))
	return idOK&secretOK == 1
}

// apiHandler routes the control-plane listener: CloudFront's REST API under
// /2020-05-31/, ACM's JSON API at POST /, the console under /console/, and
// `portico cache explain`'s endpoint at explain.Path.
func apiHandler(cf, acm, con, ex http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/2020-05-31/", cf)
	mux.Handle(explain.Path, ex)
	mux.Handle("/console/", con)
	mux.Handle("POST /{$}", acm)
	mux.Handle("GET /{$}", http.RedirectHandler("/console/", http.StatusFound))
	return mux
}

// originRoots returns the system roots plus the PEM file's certificates.
func originRoots(file string) (*x509.CertPool, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if file == "" {
		return roots, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--origin-ca: %w", err)
	}
	if !roots.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("--origin-ca: %s holds no PEM certificate", file)
	}
	return roots, nil
}

func printBanner(w io.Writer, cfg *serveConfig, api, httpAddr, httpsAddr, dns net.Addr, credsPath string, generated bool, caPath string) {
	fmt.Fprintf(w, "Portico is serving.\n")
	fmt.Fprintf(w, "  API:      http://%s  (CloudFront 2020-05-31 and ACM; any region)\n", api)
	fmt.Fprintf(w, "  Console:  http://%s/console/\n", api)
	fmt.Fprintf(w, "  Edge:     http %s, https %s; distributions are <id>.%s\n", httpAddr, httpsAddr, cfg.edgeDomain)
	fmt.Fprintf(w, "  DNS:      %s (UDP and TCP)\n", dns)
	switch {
	case credsPath == "":
		fmt.Fprintf(w, "  Credentials: from PORTICO_ACCESS_KEY_ID and PORTICO_SECRET_ACCESS_KEY\n")
	case generated:
		fmt.Fprintf(w, "  Credentials: generated into %s (profile %q)\n", credsPath, credsProfile)
	default:
		fmt.Fprintf(w, "  Credentials: %s (profile %q)\n", credsPath, credsProfile)
	}
	fmt.Fprintf(w, "  Edge CA:  %s (trust it to reach <id>.%s over HTTPS)\n", caPath, cfg.edgeDomain)
}
