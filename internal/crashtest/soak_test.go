package crashtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	bolt "go.etcd.io/bbolt"
)

// storeFile is the bbolt file `portico serve` keeps in its data directory.
const storeFile = "portico.db"

// The server is killed after a delay drawn uniformly from this range,
// counted from the moment the writers start.
const (
	minKillDelay = 20 * time.Millisecond
	maxKillDelay = 900 * time.Millisecond
)

// One cycle in startKillOdds also kills a server during its start-up,
// at most maxStartKillDelay after it was started.
const (
	startKillOdds     = 4
	maxStartKillDelay = 300 * time.Millisecond
)

// verifyTimeout bounds the checks between two cycles.
const verifyTimeout = 2 * time.Minute

// soakConfig says what runSoak runs.
type soakConfig struct {
	binary  string // portico
	dataDir string // the data directory every cycle reuses
	cycles  int    // kill cycles
	writers int    // concurrent writers
	slots   int    // distribution slots per writer
}

// soakResult is what one run of the kill loop found.
type soakResult struct {
	// err is set if the loop stopped before its last cycle: the server
	// would not start, crashed by itself, or could not be read.
	err error
	// cycles is the number of completed kill cycles.
	cycles int
	// history is every recorded request: the writers', and the
	// verifier's reads between cycles.
	history []porcupine.Operation
	// startKills counts the kills during a start-up.
	startKills int
	// cutOff counts the writes whose outcome a kill (or a 5xx) hid.
	cutOff int
	// cutOffApplied counts the cut-off writes found to have taken effect.
	cutOffApplied int
	// boltProblems are the findings of bbolt's check after each kill.
	boltProblems []string
	// lostWrites are slots found after a restart in a state other than
	// the acknowledged one or the one the cut-off write would make.
	lostWrites []string
	// surprises are responses during the cycles that contradict what the
	// same writer had been told before.
	surprises []string
	// log has one line per cycle.
	log []string
}

// runSoak runs the kill loop: cfg.cycles times, it starts the server on
// cfg.dataDir, lets the writers loose, kills the server with SIGKILL after
// a random delay, runs bbolt's check on the store, restarts the server and
// verifies every slot.
func runSoak(cfg soakConfig) *soakResult {
	l := &loop{cfg: cfg, rec: newRecorder(), res: &soakResult{}, slots: newSlots(cfg.writers, cfg.slots)}
	l.res.err = l.run()
	l.res.history = l.rec.history()
	return l.res
}

// loop is the state of one runSoak.
type loop struct {
	cfg     soakConfig
	rec     *recorder
	res     *soakResult
	srv     *server
	clients *apiClients
	certARN string
	slots   [][]*slot // by writer
}

func (l *loop) run() error {
	if err := os.MkdirAll(l.cfg.dataDir, 0o700); err != nil {
		return err
	}
	if err := l.start(); err != nil {
		return err
	}
	defer func() {
		if l.srv != nil {
			l.srv.kill()
			l.clients.close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), verifyTimeout)
	defer cancel()
	arn, err := importCertificate(ctx, l.clients.acm)
	if err != nil {
		return err
	}
	l.certARN = arn
	for n := range l.cfg.cycles {
		if err := l.cycle(n); err != nil {
			return fmt.Errorf("cycle %d: %w", n, err)
		}
		l.res.cycles++
	}
	return nil
}

// start starts the server and makes clients for it.
func (l *loop) start() error {
	srv, err := startServer(l.cfg.binary, l.cfg.dataDir)
	if err != nil {
		return err
	}
	l.srv, l.clients = srv, newClients(srv.api)
	return nil
}

// cycle runs one kill cycle on the running server and leaves a restarted,
// verified server behind.
func (l *loop) cycle(n int) error {
	opsBefore := l.rec.len()
	ctx, stopWriters := context.WithCancel(context.Background())
	defer stopWriters()
	results := make([]writerResult, len(l.slots))
	var wg sync.WaitGroup
	for i, slots := range l.slots {
		w := &writer{id: i, slots: slots, certARN: l.certARN, rec: l.rec}
		wg.Go(func() { results[i] = w.runCycle(ctx, l.clients) })
	}
	delay := minKillDelay + mathrand.N(maxKillDelay-minKillDelay)
	time.Sleep(delay)
	killErr := l.srv.kill()
	killedAt := l.rec.now()
	stopWriters()
	wg.Wait()
	l.clients.close()
	l.srv = nil
	if killErr != nil {
		return killErr
	}

	// Whatever a cut-off write did, it did before the process died.
	inFlight := make(map[*slot]*inFlight)
	for _, r := range results {
		for _, s := range r.surprises {
			l.res.surprises = append(l.res.surprises, fmt.Sprintf("cycle %d: %s", n, s))
		}
		f := r.inFlight
		if f == nil {
			continue
		}
		if f.open {
			f.op.Return = max(killedAt, f.op.Call)
		}
		l.rec.add(f.op)
		inFlight[f.slot] = f
		l.res.cutOff++
	}

	problems := l.checkBolt(n)
	startKill := ""
	if mathrand.N(startKillOdds) == 0 {
		delay, err := l.killDuringStart()
		if err != nil {
			return err
		}
		problems += l.checkBolt(n)
		startKill = fmt.Sprintf(", and once more %v into its start-up", delay.Round(time.Millisecond))
	}
	if err := l.start(); err != nil {
		return fmt.Errorf("restarting after the kill: %w", err)
	}
	vctx, cancel := context.WithTimeout(context.Background(), verifyTimeout)
	defer cancel()
	lost, err := l.verify(vctx, inFlight)
	for _, p := range lost {
		l.res.lostWrites = append(l.res.lostWrites, fmt.Sprintf("cycle %d: %s", n, p))
	}
	if err != nil {
		return fmt.Errorf("verifying after the restart: %w", err)
	}
	l.res.log = append(l.res.log, fmt.Sprintf("cycle %d: killed %v after the writers started%s; %d requests recorded, %d cut off; bbolt check: %d problems; %d slots not as acknowledged",
		n, delay.Round(time.Millisecond), startKill, l.rec.len()-opsBefore, len(inFlight), problems, len(lost)))
	return nil
}

// checkBolt runs bbolt's check on the store file and records what it
// finds; it returns the number of problems.
func (l *loop) checkBolt(cycle int) int {
	problems := checkBolt(filepath.Join(l.cfg.dataDir, storeFile))
	for _, p := range problems {
		l.res.boltProblems = append(l.res.boltProblems, fmt.Sprintf("cycle %d: %s", cycle, p))
	}
	return len(problems)
}

// killDuringStart starts the server and kills it at a random moment of its
// start-up, when it opens the store, initialises its schema and loads the
// configuration. It returns how long the server ran.
func (l *loop) killDuringStart() (time.Duration, error) {
	srv, _, err := spawnServer(l.cfg.binary, l.cfg.dataDir)
	if err != nil {
		return 0, err
	}
	delay := mathrand.N(maxStartKillDelay)
	time.Sleep(delay)
	if err := srv.kill(); err != nil {
		return delay, fmt.Errorf("killing during start-up: %w", err)
	}
	l.res.startKills++
	return delay, nil
}

// verify reads every slot from the restarted server and records the
// reads. It returns a problem for each slot that is neither as its writer
// acknowledged it nor as the write cut off by the kill would have left
// it, and for a certificate whose users are not the live distributions.
// Each slot's knowledge becomes what is stored, so that the next cycle
// starts from the truth.
func (l *loop) verify(ctx context.Context, inFlight map[*slot]*inFlight) (problems []string, err error) {
	verifier := len(l.slots) // client ID of the verifier's reads
	record := func(s *slot, in slotInput, call int64, out slotOutput) {
		in.Slot = s.index
		l.rec.add(porcupine.Operation{ClientId: verifier, Input: in, Call: call, Output: out, Return: l.rec.now()})
	}

	call := l.rec.now()
	items, err := listDistributions(ctx, l.clients.cf)
	if err != nil {
		return nil, fmt.Errorf("listing distributions: %w", err)
	}
	var arns []string
	owned := make(map[string]bool)
	for _, slots := range l.slots {
		for _, s := range slots {
			owned[s.alias] = true
			d, ok := items[s.alias]
			record(s, slotInput{Kind: opList}, call, slotOutput{Outcome: outOK, Value: aws.ToString(d.Comment)})
			if ok {
				arns = append(arns, aws.ToString(d.ARN))
			}
		}
	}
	for alias, d := range items {
		if !owned[alias] {
			problems = append(problems, fmt.Sprintf("distribution %s with alias %q belongs to no slot", aws.ToString(d.Id), alias))
		}
	}

	for _, slots := range l.slots {
		for _, s := range slots {
			var stored version
			if d, ok := items[s.alias]; ok {
				id := aws.ToString(d.Id)
				call := l.rec.now()
				out, err := l.clients.cf.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(id)})
				if err != nil {
					return problems, fmt.Errorf("reading %s (%s): %w", id, s.alias, err)
				}
				cfg := out.DistributionConfig
				gen, ok := s.generation(aws.ToString(cfg.CallerReference))
				if !ok {
					// Nothing the writer knows describes this slot now.
					return problems, fmt.Errorf("%s: distribution %s has CallerReference %q, which its writer never sent",
						s.name, id, aws.ToString(cfg.CallerReference))
				}
				stored = version{
					Present: true, Gen: gen, ID: id, ETag: aws.ToString(out.ETag),
					Comment: aws.ToString(cfg.Comment), Enabled: aws.ToBool(cfg.Enabled),
				}
				record(s, slotInput{Kind: opRead, Gen: gen}, call, slotOutput{Outcome: outOK, Value: stored.Comment})
				if got, want := fingerprint(cfg), fingerprint(s.config(gen, stored.Comment, stored.Enabled, l.certARN)); got != want {
					problems = append(problems, fmt.Sprintf("%s: stored configuration %s; sent %s", s.name, got, want))
				}
			}
			var want *version
			if f := inFlight[s]; f != nil {
				want = &f.want
			}
			if p := judge(s.acked, want, stored); p != "" {
				problems = append(problems, s.name+": "+p)
			} else if stored != s.acked {
				l.res.cutOffApplied++
			}
			s.acked = stored
		}
	}

	desc, err := l.clients.acm.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(l.certARN)})
	if err != nil {
		return problems, fmt.Errorf("describing the certificate: %w", err)
	}
	inUse := slices.Clone(desc.Certificate.InUseBy)
	slices.Sort(inUse)
	slices.Sort(arns)
	if !slices.Equal(inUse, arns) {
		problems = append(problems, fmt.Sprintf("the certificate is in use by %v, but the live distributions are %v", inUse, arns))
	}
	return problems, nil
}

// judge compares a slot as stored after a restart with the state its
// writer had acknowledged and, if a write was cut off, the state that
// write would have made (with the ID and ETag the server would have
// chosen left empty). It returns a description of the loss, or "" if the
// stored state is one of the two.
func judge(acked version, cutOff *version, stored version) string {
	if stored == acked {
		return ""
	}
	if cutOff != nil && tookEffect(acked, *cutOff, stored) {
		return ""
	}
	msg := fmt.Sprintf("acknowledged %v", acked)
	if cutOff != nil {
		msg += fmt.Sprintf(" (then cut off: a write making %v)", *cutOff)
	}
	return msg + fmt.Sprintf(", but the restarted server has %v", stored)
}

// tookEffect reports whether stored is the state the write making want
// leaves when applied to acked.
func tookEffect(acked, want, stored version) bool {
	switch {
	case !want.Present: // a delete
		return !stored.Present
	case !acked.Present: // a create: a new ID and ETag
		return stored.Present && stored.ID != "" && stored.ETag != "" &&
			stored.Gen == want.Gen && stored.Comment == want.Comment && stored.Enabled == want.Enabled
	default: // an update: the same distribution at a new ETag
		return stored.Present && stored.ID == acked.ID && stored.ETag != "" && stored.ETag != acked.ETag &&
			stored.Gen == want.Gen && stored.Comment == want.Comment && stored.Enabled == want.Enabled
	}
}

// checkBolt runs bbolt's consistency check on the file, as `bbolt check`
// does, and returns what it finds. A file bbolt cannot open is a finding
// too.
func checkBolt(path string) []string {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return []string{fmt.Sprintf("opening %s: %v", filepath.Base(path), err)}
	}
	defer db.Close()
	var problems []string
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			problems = append(problems, err.Error())
		}
		return nil
	})
	if err != nil {
		problems = append(problems, err.Error())
	}
	return problems
}

// importCertificate imports a self-signed certificate for *.crash.test
// into ACM and returns its ARN: every distribution's alias is under it.
func importCertificate(ctx context.Context, c *acm.Client) (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "*." + aliasDomain},
		DNSNames:     []string{"*." + aliasDomain, aliasDomain},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	out, err := c.ImportCertificate(ctx, &acm.ImportCertificateInput{
		Certificate: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		PrivateKey:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	})
	if err != nil {
		return "", fmt.Errorf("importing the certificate: %w", err)
	}
	return aws.ToString(out.CertificateArn), nil
}
