package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"text/template"
	"time"

	"github.com/portico-edge/portico/bench/pprofhook"
)

// Target names, in the order tables list them.
const (
	porticoName = "portico"
	nginxName   = "nginx"
	varnishName = "varnish"
	haproxyName = "haproxy"
)

// target is one proxy under test.
type target struct {
	name  string
	http  string // address of its plain-HTTP listener
	https string // address of its HTTPS listener; "" when it has no TLS
	proc  *process
}

// addr is the address that case c's load goes to.
func (t *target) addr(c loadCase) string {
	if c.tls {
		return t.https
	}
	return t.http
}

// addrs are the loopback addresses of every listener, from the port base.
type addrs struct {
	originHTTP, originHTTPS                           string
	porticoAPI, porticoHTTP, porticoHTTPS, porticoDNS string
	nginxHTTP, nginxHTTPS                             string
	varnishHTTP                                       string
	haproxyHTTP, haproxyHTTPS                         string
}

func newAddrs(base int) addrs {
	a := func(off int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(base+off)) }
	return addrs{
		originHTTP: a(1), originHTTPS: a(2),
		porticoAPI: a(10), porticoHTTP: a(11), porticoHTTPS: a(12), porticoDNS: a(13),
		nginxHTTP: a(21), nginxHTTPS: a(22),
		varnishHTTP: a(31),
		haproxyHTTP: a(41), haproxyHTTPS: a(42),
	}
}

func (a addrs) all() []string {
	return []string{a.originHTTP, a.originHTTPS, a.porticoAPI, a.porticoHTTP, a.porticoHTTPS, a.porticoDNS,
		a.nginxHTTP, a.nginxHTTPS, a.varnishHTTP, a.haproxyHTTP, a.haproxyHTTPS}
}

// startOrigin starts the bench origin on the load generator's core: the
// servers' core is kept for the server under test alone.
func (b *bench) startOrigin(ctx context.Context) error {
	p, err := startProcess("origin", b.cfg.loadCPU, []string{"GOMAXPROCS=1"}, filepath.Join(b.work, "origin.log"),
		b.cfg.originBin, "-http", b.addrs.originHTTP, "-https", b.addrs.originHTTPS,
		"-cert", b.pki.OriginCert, "-key", b.pki.OriginKey)
	if err != nil {
		return err
	}
	b.origin = p
	if err := waitTCP(ctx, p, b.addrs.originHTTPS, 10*time.Second); err != nil {
		return err
	}
	return waitTCP(ctx, p, b.addrs.originHTTP, 10*time.Second)
}

// startPortico starts Portico on the servers' core with GOMAXPROCS=1 and
// configures it through its API.
func (b *bench) startPortico(ctx context.Context) (*target, error) {
	creds := newAPICredentials()
	env := append(creds.env(), "GOMAXPROCS=1")
	if b.cfg.pprofAddr != "" {
		env = append(env, pprofhook.Env+"="+b.cfg.pprofAddr)
	}
	_, originPort, _ := net.SplitHostPort(b.addrs.originHTTPS)
	p, err := startProcess(porticoName, b.cfg.serverCPU, env, filepath.Join(b.work, "portico.log"),
		b.cfg.porticoBin, "serve",
		"--data", filepath.Join(b.work, "portico-data"),
		"--api", b.addrs.porticoAPI, "--http", b.addrs.porticoHTTP, "--https", b.addrs.porticoHTTPS,
		"--dns", b.addrs.porticoDNS,
		"--origin-ca", b.pki.CA, "--origin-resolve", originName+"=127.0.0.1",
		"--cache-memory", strconv.FormatInt(int64(b.cfg.cacheMB)<<20, 10),
		// Every peer logs each request, so Portico does too.
		"--access-log")
	if err != nil {
		return nil, err
	}
	t := &target{name: porticoName, http: b.addrs.porticoHTTP, https: b.addrs.porticoHTTPS, proc: p}
	if err := waitTCP(ctx, p, b.addrs.porticoAPI, 30*time.Second); err != nil {
		return t, err
	}
	port, _ := strconv.Atoi(originPort)
	if err := configurePortico(ctx, b.addrs.porticoAPI, creds, b.pki, port); err != nil {
		return t, fmt.Errorf("configuring portico: %w\n%s", err, p.logTail())
	}
	return t, waitTCP(ctx, p, b.addrs.porticoHTTP, 10*time.Second)
}

// confData fills the templates in bench/conf.
type confData struct {
	Work    string // the harness's work directory
	User    string // the user nginx's workers run as, when started as root
	CacheMB int    // the memory tier's size

	HTTP, HTTPS string // the proxy's listeners

	OriginHTTPS                    string // host:port
	OriginHTTPHost, OriginHTTPPort string
	OriginName                     string

	Host, ECDSAHost, RSAHost string

	CA, ECDSACert, ECDSAKey, RSACert, RSAKey, ECDSAPEM, RSAPEM string
}

func (b *bench) confData(http, https string) confData {
	host, port, _ := net.SplitHostPort(b.addrs.originHTTP)
	d := confData{
		Work: b.work, CacheMB: b.cfg.cacheMB, HTTP: http, HTTPS: https,
		OriginHTTPS: b.addrs.originHTTPS, OriginHTTPHost: host, OriginHTTPPort: port, OriginName: originName,
		Host: benchHost, ECDSAHost: ecdsaHost, RSAHost: rsaHost,
		CA: b.pki.CA, ECDSACert: b.pki.ECDSACert, ECDSAKey: b.pki.ECDSAKey,
		RSACert: b.pki.RSACert, RSAKey: b.pki.RSAKey, ECDSAPEM: b.pki.ECDSAPEM, RSAPEM: b.pki.RSAPEM,
	}
	if os.Geteuid() == 0 {
		// The work directory is private to its owner: the workers must
		// run as that owner to write the cache.
		if u, err := user.Current(); err == nil {
			d.User = u.Username
		}
	}
	return d
}

// render executes the template bench/conf/<name> into the work directory
// and returns the path of the result.
func (b *bench) render(name string, data confData) (string, error) {
	tmpl, err := template.ParseFiles(filepath.Join(b.cfg.confDir, name))
	if err != nil {
		return "", err
	}
	path := filepath.Join(b.work, name)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := tmpl.Execute(f, data); err != nil {
		f.Close()
		return "", fmt.Errorf("rendering %s: %w", name, err)
	}
	return path, f.Close()
}

// startNginx starts nginx with one worker process on the servers' core.
func (b *bench) startNginx(ctx context.Context) (*target, error) {
	dir := filepath.Join(b.work, "nginx")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	conf, err := b.render("nginx.conf", b.confData(b.addrs.nginxHTTP, b.addrs.nginxHTTPS))
	if err != nil {
		return nil, err
	}
	p, err := startProcess(nginxName, b.cfg.serverCPU, nil, filepath.Join(b.work, "nginx.log"),
		"nginx", "-e", "stderr", "-p", dir, "-c", conf)
	if err != nil {
		return nil, err
	}
	t := &target{name: nginxName, http: b.addrs.nginxHTTP, https: b.addrs.nginxHTTPS, proc: p}
	return t, waitTCP(ctx, p, b.addrs.nginxHTTPS, 10*time.Second)
}

// startVarnish starts varnishd with malloc storage the size of the memory
// tier and one thread pool, on the servers' core. (Open-source Varnish has
// no TLS: it reaches the origin over plain HTTP.)
func (b *bench) startVarnish(ctx context.Context) (*target, error) {
	vcl, err := b.render("default.vcl", b.confData(b.addrs.varnishHTTP, ""))
	if err != nil {
		return nil, err
	}
	p, err := startProcess(varnishName, b.cfg.serverCPU, nil, filepath.Join(b.work, "varnish.log"),
		"varnishd", "-F", "-j", "none", "-n", filepath.Join(b.work, "varnish"),
		"-a", b.addrs.varnishHTTP, "-T", "none", "-f", vcl,
		"-s", "malloc,"+strconv.Itoa(b.cfg.cacheMB)+"m",
		// One pool. Varnish serves each request in flight on a thread of
		// its own: keeping a thread per connection ready spares it
		// creating and reaping threads from run to run.
		"-p", "thread_pools=1", "-p", "thread_pool_min="+strconv.Itoa(max(5, b.cfg.connections)),
		// Storing a 100 KiB object in a memory tier full of 1 KiB ones
		// (after the Zipf case) evicts more than the default 50 objects:
		// at the default, the fetch fails and Varnish cuts the responses
		// it is streaming.
		"-p", "nuke_limit=1000")
	if err != nil {
		return nil, err
	}
	t := &target{name: varnishName, http: b.addrs.varnishHTTP, proc: p}
	return t, waitTCP(ctx, p, b.addrs.varnishHTTP, 60*time.Second) // VCL is compiled with cc first
}

// startHAProxy starts HAProxy with one thread on the servers' core.
func (b *bench) startHAProxy(ctx context.Context) (*target, error) {
	conf, err := b.render("haproxy.cfg", b.confData(b.addrs.haproxyHTTP, b.addrs.haproxyHTTPS))
	if err != nil {
		return nil, err
	}
	p, err := startProcess(haproxyName, b.cfg.serverCPU, nil, filepath.Join(b.work, "haproxy.log"),
		"haproxy", "-db", "-f", conf)
	if err != nil {
		return nil, err
	}
	t := &target{name: haproxyName, http: b.addrs.haproxyHTTP, https: b.addrs.haproxyHTTPS, proc: p}
	return t, waitTCP(ctx, p, b.addrs.haproxyHTTPS, 10*time.Second)
}
