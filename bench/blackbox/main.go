// Command blackbox measures the gateway from outside, the way users run it,
// next to the references it must be judged against (bench/proxy-blackbox.sh,
// `make bench-proxy`):
//
//   - the upstream directly (a small Go server),
//   - nginx proxy_pass with upstream keep-alive,
//   - the Go floor: a bare httputil.ReverseProxy with the tuned transport,
//   - oauth2-proxy v7.15.6, signed in, cookie store and Redis store,
//   - `gateway serve` (the real binary) with a realistic YAML file — audit to
//     a file, default log level, several routes — memory store and Redis
//     store, on a plain route and on the full check chain (a device-bound
//     session, attested by the TPM simulator through the real agent).
//
// Every proxy is signed in through a real OIDC code flow against a real
// provider (mockoidc, in this process), and is checked to serve the upstream
// only when signed in before it is measured. Then interleaved rounds (A B C
// … A B C …) of wrk give req/s, p50/p99 and, from /proc, the CPU time per
// request of each proxy process (and of redis-server); the upstream counts
// the connections it accepts; Redis's INFO commandstats gives the commands
// per request. A fixed-rate pass with vegeta (in its own process) gives the
// latency a proxy adds when queueing does not hide it. One table, with the
// medians and the ratios to the references, goes to stdout (and -out).
//
// The binary also runs three of the parties: `blackbox upstream`,
// `blackbox floor` and the fixed-rate load generator `blackbox rate`.
package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/template"
	"time"

	gtsim "github.com/google/go-tpm-tools/simulator"
	"github.com/oauth2-proxy/mockoidc"
	"github.com/redis/go-redis/v9"

	"github.com/accessgateway/gateway/internal/device/agent"
)

//go:embed gateway.yaml.tmpl
var gatewayTmpl string

//go:embed nginx.conf.tmpl
var nginxTmpl string

type options struct {
	gateway, oauth2proxy string
	work                 string
	keep                 bool
	d, warmup            time.Duration
	threads, conns       int
	rounds               int
	rate                 int
	rateD, rateWarm      time.Duration
	ratePin              bool
	only                 map[string]bool
	filler               int
	profile, profileBin  string
	baseline             string
	gatewayEnv           []string
	profileTarget        string
	out                  string
	soak                 time.Duration
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "upstream":
			runUpstream(os.Args[2:])
			return
		case "floor":
			runFloor(os.Args[2:])
			return
		case "rate":
			rateMain(os.Args[2:])
			return
		}
	}
	var o options
	var only string
	flag.StringVar(&o.gateway, "gateway", "", "the gateway binary (go build -o … ./cmd/gateway); required")
	flag.StringVar(&o.oauth2proxy, "oauth2-proxy", "", "the oauth2-proxy binary (default: from PATH or $(go env GOPATH)/bin)")
	flag.StringVar(&o.work, "work", "", "working directory for configs, keys and logs (default: a new temporary one)")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory")
	flag.DurationVar(&o.d, "duration", 10*time.Second, "length of one wrk run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "length of the warm-up run per target")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads")
	flag.IntVar(&o.conns, "conns", 32, "wrk connections")
	flag.IntVar(&o.rounds, "rounds", 3, "interleaved rounds (medians are reported)")
	flag.IntVar(&o.rate, "rate", 2000, "fixed rate of the latency pass, requests per second (0: skip)")
	flag.DurationVar(&o.rateD, "rate-duration", 5*time.Second, "length of one fixed-rate run (measured)")
	flag.DurationVar(&o.rateWarm, "rate-warmup", 2*time.Second, "fixed-rate warm-up before each measured run (not counted)")
	flag.BoolVar(&o.ratePin, "rate-pin", false, "during the fixed-rate pass, give the proxy under test half of the CPUs to itself and the load generator, upstream and Redis the other half (see pin.go; on 2 cores it did not lower the floor's or nginx's p99 in the harness, docs/performance.md)")
	flag.StringVar(&only, "only", "", "comma-separated target keys to run (default: all): "+strings.Join(allKeys, ","))
	flag.IntVar(&o.filler, "filler", 10, "extra hosts in the gateway's config (two routes each)")
	flag.StringVar(&o.profile, "profile", "", "write CPU and allocation profiles of the gateway under load to this directory (needs -profile-bin)")
	flag.StringVar(&o.profileBin, "profile-bin", "", "the bench build of `gateway serve` with net/http/pprof on $PPROF_ADDR (go build -o … ./bench/gwprof), run for the profiled target's gateway")
	flag.StringVar(&o.profileTarget, "profile-target", "gw-mem-chain", "the target to profile")
	flag.StringVar(&o.out, "out", "", "also write the report to this file")
	flag.DurationVar(&o.soak, "soak", 0, "instead of measuring: send -rate requests per second for this long to one target (-only, default gw-redis-chain), sampling its RSS and goroutines every 5 s; fail on any non-2xx answer or growth (see soak.go)")
	flag.StringVar(&o.baseline, "baseline", "", "another gateway binary (e.g. built from main) measured in the same rounds, in rows marked \"baseline\": before/after a change")
	var genv string
	flag.StringVar(&genv, "gateway-env", "", "comma-separated VAR=value for the gateway under test (not the baseline), e.g. GOGC=200")
	flag.Parse()
	if genv != "" {
		o.gatewayEnv = strings.Split(genv, ",")
	}
	if only != "" {
		o.only = map[string]bool{}
		for _, k := range strings.Split(only, ",") {
			o.only[strings.TrimSpace(k)] = true
		}
	}
	if o.soak > 0 && o.only == nil {
		o.only = map[string]bool{"gw-redis-chain": true}
	}
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

// allKeys are the targets in measuring order.
var allKeys = []string{"upstream", "nginx", "floor", "o2p-cookie", "o2p-redis", "gw-mem", "gw-mem-chain", "gw-redis", "gw-redis-chain", "gw-rcache", "gw-rcache-chain"}

// target is one row of the table.
type target struct {
	key, name string
	url, host string
	cookie    string
	// pids are the processes whose CPU is the target's.
	pids func() []int
	// rssPID, when set, is the process whose RSS is reported.
	rssPID int
	// metrics is a gateway's admin /metrics URL (the soak reads go_goroutines).
	metrics string
	// token: the upstream must see a context token.
	token   bool
	samples []sample
}

type sample struct {
	wrk       wrkResult
	cpu       time.Duration // the target's processes
	redisCPU  time.Duration
	redisCmds int64
	// redisPer is the commands by name during the run (INFO commandstats).
	redisPer map[string]int64
	upConns  int64
	upReqs   int64
	rss, hwm int64
	rate     rateResult
	// auditWrites and auditRecords: the gateway's audit write calls and
	// records written during the run (group commit), -1 when not a gateway.
	auditWrites, auditRecords float64
}

type harness struct {
	o        options
	procs    []*proc
	targets  []*target
	upURL    string
	upStats  string
	redisP   *proc
	rdb      *redis.Client
	idp      *mockoidc.MockOIDC
	tpm      *agent.TPM
	ekHash   string
	loadSeen []string
	// split: the CPUs of the fixed-rate pass (nil: not pinned).
	split *cpuSplit
}

// want reports whether the target key is to be measured. A baseline row
// ("gw-mem-base", "gw-mem-base-chain") goes with its gateway row.
func (h *harness) want(key string) bool {
	if strings.Contains(key, "-base") {
		if h.o.baseline == "" {
			return false
		}
		key = strings.Replace(key, "-base", "", 1)
	}
	return h.o.only == nil || h.o.only[key]
}

func run(o options) error {
	if o.gateway == "" {
		return errors.New("blackbox: -gateway is required")
	}
	if o.work == "" {
		d, err := os.MkdirTemp("", "blackbox-")
		if err != nil {
			return err
		}
		o.work = d
	}
	if err := os.MkdirAll(filepath.Join(o.work, "nginx-tmp"), 0o755); err != nil {
		return err
	}
	if o.oauth2proxy == "" {
		o.oauth2proxy = findOAuth2Proxy()
	}
	h := &harness{o: o}
	if o.ratePin {
		if s, ok := newCPUSplit(); ok {
			h.split = &s
		}
	}
	defer h.stopAll()
	if err := h.setup(); err != nil {
		return err
	}
	measure := h.measure
	if o.soak > 0 {
		measure = h.soak
	}
	rep, err := measure()
	if err != nil {
		fmt.Print(rep) // a failed soak still shows its table
		return err
	}
	fmt.Print(rep)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(rep), 0o644); err != nil {
			return err
		}
	}
	if !o.keep {
		_ = os.RemoveAll(o.work)
	} else {
		fmt.Println("working directory kept:", o.work)
	}
	return nil
}

func findOAuth2Proxy() string {
	if p, err := exec.LookPath("oauth2-proxy"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "oauth2-proxy")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func (h *harness) stopAll() {
	for i := len(h.procs) - 1; i >= 0; i-- {
		h.procs[i].stop()
	}
	if h.idp != nil {
		_ = h.idp.Shutdown()
	}
	if h.tpm != nil {
		_ = h.tpm.Close()
	}
}

func (h *harness) start(name string, env []string, bin string, args ...string) (*proc, error) {
	p, err := start(h.o.work, name, env, bin, args...)
	if err != nil {
		return nil, err
	}
	h.procs = append(h.procs, p)
	return p, nil
}

func (h *harness) port() int {
	p, err := freePort()
	if err != nil {
		log.Fatal(err)
	}
	return p
}

// setup starts every party, signs each proxy in and checks it.
func (h *harness) setup() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ctx := context.Background()
	// The upstream.
	upPort, statsPort := h.port(), h.port()
	up, err := h.start("upstream", nil, self, "upstream", "-addr", fmt.Sprintf("127.0.0.1:%d", upPort), "-stats", fmt.Sprintf("127.0.0.1:%d", statsPort))
	if err != nil {
		return err
	}
	h.upURL = fmt.Sprintf("http://127.0.0.1:%d", upPort)
	h.upStats = fmt.Sprintf("http://127.0.0.1:%d/stats", statsPort)
	if err := waitHTTP(h.upStats, up, 10*time.Second); err != nil {
		return err
	}
	if err := waitHTTP(h.upURL, up, 10*time.Second); err != nil {
		return err
	}
	h.add(&target{key: "upstream", name: "upstream directly", url: h.upURL + "/", host: fmt.Sprintf("localhost:%d", upPort), pids: fixed(up.pid())})

	// Redis, shared by oauth2-proxy's and the gateway's Redis stores; its
	// counters are read per run.
	needRedis := h.want("o2p-redis") || h.want("gw-redis") || h.want("gw-redis-chain") || h.want("gw-rcache") || h.want("gw-rcache-chain")
	var redisAddr string
	if needRedis {
		rp := h.port()
		redisAddr = fmt.Sprintf("127.0.0.1:%d", rp)
		h.redisP, err = h.start("redis", nil, "redis-server", "--port", strconv.Itoa(rp), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--daemonize", "no")
		if err != nil {
			return err
		}
		h.rdb = redis.NewClient(&redis.Options{Addr: redisAddr})
		deadline := time.Now().Add(10 * time.Second)
		for h.rdb.Ping(ctx).Err() != nil {
			if time.Now().After(deadline) || h.redisP.exited() {
				return errors.New("blackbox: redis-server did not start (see redis.log)")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// The OIDC provider.
	h.idp, err = mockoidc.NewServer(nil)
	if err != nil {
		return err
	}
	h.idp.AccessTTL, h.idp.RefreshTTL = 12*time.Hour, 24*time.Hour
	ipPort := h.port()
	ln, err := netListen(ipPort)
	if err != nil {
		return err
	}
	if err := h.idp.Start(ln, nil); err != nil {
		return err
	}

	if h.want("nginx") {
		if err := h.startNginx(upPort); err != nil {
			return err
		}
	}
	if h.want("floor") {
		p := h.port()
		fp, err := h.start("floor", nil, self, "floor", "-addr", fmt.Sprintf("127.0.0.1:%d", p), "-upstream", h.upURL)
		if err != nil {
			return err
		}
		if err := waitHTTP(fmt.Sprintf("http://127.0.0.1:%d/", p), fp, 10*time.Second); err != nil {
			return err
		}
		h.add(&target{key: "floor", name: "Go floor: bare httputil.ReverseProxy, tuned transport", url: fmt.Sprintf("http://127.0.0.1:%d/", p),
			host: fmt.Sprintf("localhost:%d", p), pids: fixed(fp.pid())})
	}
	for _, store := range []string{"cookie", "redis"} {
		if !h.want("o2p-" + store) {
			continue
		}
		if h.o.oauth2proxy == "" {
			return errors.New("blackbox: oauth2-proxy not found: go install github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6, or pass -oauth2-proxy")
		}
		if err := h.startOAuth2Proxy(store, redisAddr); err != nil {
			return err
		}
	}
	chain := h.want("gw-mem-chain") || h.want("gw-redis-chain") || h.want("gw-rcache-chain")
	if chain {
		sim, err := gtsim.Get()
		if err != nil {
			return fmt.Errorf("blackbox: TPM simulator (needs cgo, gcc and libssl-dev): %w", err)
		}
		h.tpm = agent.NewSimulatorTPM(sim)
		id, err := h.tpm.Identity()
		if err != nil {
			return err
		}
		h.ekHash = id.EKHash
	} else {
		h.ekHash = strings.Repeat("0", 64)
	}
	if err := h.keys(); err != nil {
		return err
	}
	// "redis-cache" is the Redis store with session.redis.local_cache
	// enabled (opt-in; see docs/config.md).
	for _, store := range []string{"memory", "redis", "redis-cache"} {
		for _, base := range []bool{false, true} {
			k := map[string]string{"memory": "gw-mem", "redis": "gw-redis", "redis-cache": "gw-rcache"}[store]
			if base {
				k += "-base"
			}
			if !h.want(k) && !h.want(k+"-chain") {
				continue
			}
			if err := h.startGateway(ctx, k, store, redisAddr, base); err != nil {
				return err
			}
		}
	}
	for _, t := range h.targets {
		if err := checkServes(t.url, t.host, t.cookie, t.token); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	return nil
}

func fixed(pid int) func() []int { return func() []int { return []int{pid} } }

func (h *harness) add(t *target) {
	if h.want(t.key) {
		h.targets = append(h.targets, t)
	}
}

func (h *harness) startNginx(upPort int) error {
	p := h.port()
	var b bytes.Buffer
	err := template.Must(template.New("nginx").Parse(nginxTmpl)).Execute(&b, map[string]any{
		"Dir": h.o.work, "Port": p, "UpstreamAddr": fmt.Sprintf("127.0.0.1:%d", upPort)})
	if err != nil {
		return err
	}
	conf := filepath.Join(h.o.work, "nginx.conf")
	if err := os.WriteFile(conf, b.Bytes(), 0o644); err != nil {
		return err
	}
	np, err := h.start("nginx", nil, "nginx", "-p", h.o.work, "-c", conf)
	if err != nil {
		return err
	}
	if err := waitHTTP(fmt.Sprintf("http://127.0.0.1:%d/", p), np, 10*time.Second); err != nil {
		return err
	}
	pid := np.pid()
	h.add(&target{key: "nginx", name: "nginx proxy_pass, keep-alive", url: fmt.Sprintf("http://127.0.0.1:%d/", p),
		host: fmt.Sprintf("localhost:%d", p), pids: func() []int { return tree(pid) }})
	return nil
}

func (h *harness) startOAuth2Proxy(store, redisAddr string) error {
	p := h.port()
	base := fmt.Sprintf("http://localhost:%d", p)
	c := h.idp.Config()
	args := []string{
		"--provider=oidc", "--oidc-issuer-url=" + c.Issuer, "--client-id=" + c.ClientID, "--client-secret=" + c.ClientSecret,
		"--cookie-secret=" + randomHex(16), "--cookie-secure=false", "--email-domain=*",
		"--upstream=" + h.upURL + "/", fmt.Sprintf("--http-address=127.0.0.1:%d", p),
		"--redirect-url=" + base + "/oauth2/callback", "--skip-provider-button",
		"--scope=openid email profile groups", "--code-challenge-method=S256",
	}
	if store == "redis" {
		args = append(args, "--session-store-type=redis", "--redis-connection-url=redis://"+redisAddr)
	}
	op, err := h.start("oauth2-proxy-"+store, nil, h.o.oauth2proxy, args...)
	if err != nil {
		return err
	}
	if err := waitHTTP(base+"/ping", op, 20*time.Second); err != nil {
		return err
	}
	_, cookie, err := signIn(h.idp, base, "/")
	if err != nil {
		return fmt.Errorf("oauth2-proxy (%s store): %w", store, err)
	}
	pid := op.pid()
	h.add(&target{key: "o2p-" + store, name: "oauth2-proxy v7.15.6, " + store + " store", url: fmt.Sprintf("http://127.0.0.1:%d/", p),
		host: fmt.Sprintf("localhost:%d", p), cookie: cookie, pids: fixed(pid)})
	return nil
}

// keys writes the context-token signing key and the session encryption key
// with the gateway binary itself.
func (h *harness) keys() error {
	for _, args := range [][]string{
		{"keys", "generate", "--out", filepath.Join(h.o.work, "token.pem")},
		{"keys", "generate", "--session", "--out", filepath.Join(h.o.work, "session.key")},
	} {
		if _, err := os.Stat(args[len(args)-1]); err == nil {
			continue
		}
		if out, err := exec.Command(h.o.gateway, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("blackbox: gateway %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// startGateway runs `gateway serve` (the baseline binary when base) with
// store, signs in and, for the chain row, binds the device.
func (h *harness) startGateway(ctx context.Context, key, store, redisAddr string, base bool) error {
	name, prefix, bin, env := "gateway-"+store, "gw:", h.o.gateway, h.o.gatewayEnv
	cache := store == "redis-cache"
	if cache {
		store, prefix = "redis", "gwc:"
	}
	if base {
		name, prefix, bin, env = name+"-baseline", "gwbase"+strings.TrimPrefix(prefix, "gw"), h.o.baseline, nil
	}
	p, ap := h.port(), h.port()
	c := h.idp.Config()
	var filler []int
	for i := 0; i < h.o.filler; i++ {
		filler = append(filler, i)
	}
	var b bytes.Buffer
	err := template.Must(template.New("gateway").Parse(gatewayTmpl)).Execute(&b, map[string]any{
		"Port": p, "AdminPort": ap, "Issuer": c.Issuer, "ClientID": c.ClientID, "ClientSecret": c.ClientSecret,
		"Store": store, "RedisAddr": redisAddr, "KeyPrefix": prefix, "AuditFile": "audit-" + name + ".log", "Upstream": h.upURL,
		"EKHash": h.ekHash, "Filler": filler, "LocalCache": cache})
	if err != nil {
		return err
	}
	conf := filepath.Join(h.o.work, name+".yaml")
	if err := os.WriteFile(conf, b.Bytes(), 0o600); err != nil {
		return err
	}
	if h.o.profile != "" && (h.o.profileTarget == key || h.o.profileTarget == key+"-chain") {
		if h.o.profileBin == "" {
			return errors.New("blackbox: -profile needs -profile-bin (go build -o … ./bench/gwprof)")
		}
		bin = h.o.profileBin
		env = append(env, fmt.Sprintf("PPROF_ADDR=127.0.0.1:%d", h.pprofPort()))
	}
	gp, err := h.start(name, env, bin, "serve", "--config", conf)
	if err != nil {
		return err
	}
	admin := fmt.Sprintf("http://127.0.0.1:%d/readyz", ap)
	if err := waitHTTP(admin, gp, 30*time.Second); err != nil {
		return err
	}
	baseURL := fmt.Sprintf("http://localhost:%d", p)
	cl, cookie, err := signIn(h.idp, baseURL, "/")
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	pid := gp.pid()
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", ap)
	label := map[string]string{"memory": "memory store", "redis": "Redis store"}[store]
	if cache {
		label = "Redis store + local cache"
	}
	if base {
		label = "baseline, " + label
	}
	h.add(&target{key: key, name: "gateway, " + label + ", plain route", url: fmt.Sprintf("http://127.0.0.1:%d/", p),
		host: fmt.Sprintf("localhost:%d", p), cookie: cookie, pids: fixed(pid), rssPID: pid, token: true, metrics: metricsURL})
	if h.want(key + "-chain") {
		if err := completeChain(ctx, h.tpm, cl, baseURL, "/secure/x", "SUP-1"); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		h.add(&target{key: key + "-chain", name: "gateway, " + label + ", full chain (" + chainLabel + ")",
			url: fmt.Sprintf("http://127.0.0.1:%d/secure/x", p), host: fmt.Sprintf("localhost:%d", p),
			cookie: cookieHeader(cl, baseURL), pids: fixed(pid), rssPID: pid, token: true, metrics: metricsURL})
	}
	return nil
}

// chainLabel names what the chain route of gateway.yaml.tmpl requires.
const chainLabel = "session, TPM device, ticket, open window"

var pprofPortN int

func (h *harness) pprofPort() int {
	if pprofPortN == 0 {
		pprofPortN = h.port()
	}
	return pprofPortN
}

// measure runs the warm-up, the interleaved rounds and the fixed-rate pass.
func (h *harness) measure() (string, error) {
	ctx := context.Background()
	h.loadSeen = append(h.loadSeen, loadAvg())
	for _, t := range h.targets {
		if _, _, err := runWrk(ctx, h.o.threads, h.o.conns, h.o.warmup, t.url, t.headers()); err != nil {
			return "", err
		}
	}
	for r := 0; r < h.o.rounds; r++ {
		for _, t := range h.targets {
			s, err := h.one(ctx, t)
			if err != nil {
				return "", err
			}
			t.samples = append(t.samples, s)
			audit := ""
			if s.auditWrites > 0 {
				audit = fmt.Sprintf("  audit %.2f writes/req, %.1f records/write", s.auditWrites/float64(s.wrk.Requests), s.auditRecords/s.auditWrites)
			}
			fmt.Fprintf(os.Stderr, "round %d %-15s %8.0f req/s  p99 %6.2f ms  %6.1f us CPU/req  redis %.2f cmd/req%s  load %s\n",
				r+1, t.key, s.wrk.RPS, ms(s.wrk.P99), us(s.cpu)/float64(s.wrk.Requests), float64(s.redisCmds)/float64(s.wrk.Requests), audit, loadAvg())
		}
		h.loadSeen = append(h.loadSeen, loadAvg())
		if h.o.rate > 0 {
			for _, t := range h.targets {
				// A fixed rate above what the target serves at all measures
				// only the queue growing (and its backlog slows the next
				// target): skip it, the table says so.
				if capacity := median(t.samples, func(s sample) float64 { return s.wrk.RPS }); capacity < 1.25*float64(h.o.rate) {
					t.samples[len(t.samples)-1].rate = rateResult{Skipped: true}
					fmt.Fprintf(os.Stderr, "round %d %-15s at %d/s: skipped, above its capacity (%.0f req/s under wrk)\n", r+1, t.key, h.o.rate, capacity)
					continue
				}
				restore := func() {}
				if h.split != nil {
					var err error
					if restore, err = h.pinFor(t, *h.split); err != nil {
						return "", err
					}
				}
				rr, err := runRate(h.o.rate, h.o.rateWarm, h.o.rateD, t.url, t.host, t.cookie, h.split)
				restore()
				if err != nil {
					return "", err
				}
				t.samples[len(t.samples)-1].rate = rr
				fmt.Fprintf(os.Stderr, "round %d %-15s at %d/s: p50 %.2f ms p99 %.2f ms p99.9 %.2f ms success %.3f\n", r+1, t.key, h.o.rate, ms(rr.P50), ms(rr.P99), ms(rr.P999), rr.Success)
			}
		}
	}
	var prof string
	if h.o.profile != "" {
		var err error
		if prof, err = h.takeProfiles(ctx); err != nil {
			return "", err
		}
	}
	sessBytes := h.sessionBytes(ctx)
	return h.report(sessBytes) + prof, nil
}

// auditCounters reads a gateway's audit write calls and records written
// (-1, -1 for other targets or when /metrics cannot be read).
func auditCounters(t *target) (writes, records float64) {
	if t.metrics == "" {
		return -1, -1
	}
	w, err := metricValue(t.metrics, "gateway_audit_writes_total")
	if err != nil {
		return -1, -1
	}
	r, err := metricValue(t.metrics, "gateway_audit_records_written_total")
	if err != nil {
		return -1, -1
	}
	return w, r
}

func (t *target) headers() []string {
	hdr := []string{"Host: " + t.host}
	if t.cookie != "" {
		hdr = append(hdr, "Cookie: "+t.cookie)
	}
	return hdr
}

// one measures t once with wrk.
func (h *harness) one(ctx context.Context, t *target) (sample, error) {
	var s sample
	pids := t.pids()
	c0, r0, err := upstreamStats(h.upStats)
	if err != nil {
		return s, err
	}
	var redis0 int64
	var per0 map[string]int64
	var rc0 time.Duration
	if h.rdb != nil {
		if redis0, per0, err = redisStats(ctx, h.rdb); err != nil {
			return s, err
		}
		rc0 = cpuTime([]int{h.redisP.pid()})
	}
	aw0, ar0 := auditCounters(t)
	cpu0 := cpuTime(pids)
	w, out, err := runWrk(ctx, h.o.threads, h.o.conns, h.o.d, t.url, t.headers())
	if err != nil {
		return s, err
	}
	if w.Bad > 0 {
		return s, fmt.Errorf("blackbox: %s answered %d errors or non-2xx under load; wrk said:\n%s", t.name, w.Bad, out)
	}
	s.wrk = w
	s.cpu = cpuTime(pids) - cpu0
	s.auditWrites, s.auditRecords = -1, -1
	if aw1, ar1 := auditCounters(t); aw0 >= 0 && aw1 >= 0 {
		s.auditWrites, s.auditRecords = aw1-aw0, ar1-ar0
	}
	c1, r1, err := upstreamStats(h.upStats)
	if err != nil {
		return s, err
	}
	s.upConns, s.upReqs = c1-c0, r1-r0
	if h.rdb != nil {
		redis1, per1, err := redisStats(ctx, h.rdb)
		if err != nil {
			return s, err
		}
		s.redisCmds = redis1 - redis0 // INFO itself is not counted
		s.redisPer = map[string]int64{}
		for cmd, n := range per1 {
			if d := n - per0[cmd]; d > 0 && cmd != "info" {
				s.redisPer[cmd] = d
			}
		}
		s.redisCPU = cpuTime([]int{h.redisP.pid()}) - rc0
	}
	if t.rssPID != 0 {
		s.rss, s.hwm = rss(t.rssPID)
	}
	return s, nil
}

// takeProfiles profiles the gateway serving the profile target under wrk:
// a CPU profile over most of the run and the allocations made during it.
func (h *harness) takeProfiles(ctx context.Context) (string, error) {
	var t *target
	for _, x := range h.targets {
		if x.key == h.o.profileTarget {
			t = x
		}
	}
	if t == nil {
		return "", fmt.Errorf("blackbox: -profile-target %q is not among the targets", h.o.profileTarget)
	}
	if err := os.MkdirAll(h.o.profile, 0o755); err != nil {
		return "", err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", h.pprofPort())
	fetch := func(path, file string) error {
		resp, err := http.Get(base + path)
		if err != nil {
			return fmt.Errorf("blackbox: pprof: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("blackbox: pprof %s: status %d", path, resp.StatusCode)
		}
		f, err := os.Create(filepath.Join(h.o.profile, file))
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.ReadFrom(resp.Body)
		return err
	}
	if err := fetch("allocs", "allocs-before.pb.gz"); err != nil {
		return "", err
	}
	secs := int(h.o.d.Seconds()) - 2
	if secs < 1 {
		secs = 1
	}
	errc := make(chan error, 1)
	go func() { errc <- fetch("profile?seconds="+strconv.Itoa(secs), "cpu.pb.gz") }()
	time.Sleep(500 * time.Millisecond)
	w, _, err := runWrk(ctx, h.o.threads, h.o.conns, h.o.d, t.url, t.headers())
	if err != nil {
		return "", err
	}
	if err := <-errc; err != nil {
		return "", err
	}
	if err := fetch("allocs", "allocs-after.pb.gz"); err != nil {
		return "", err
	}
	out := fmt.Sprintf("\nProfiles of %s under wrk (%.0f req/s while profiled) in %s:\n"+
		"  go tool pprof -top %s/cpu.pb.gz\n  go tool pprof -sample_index=alloc_space -top -base %s/allocs-before.pb.gz %s/allocs-after.pb.gz\n",
		t.name, w.RPS, h.o.profile, h.o.profile, h.o.profile, h.o.profile)
	if h.o.rate > 0 {
		// An execution trace at the fixed rate: where a request's time goes
		// when it is not queued behind others (scheduling, network and
		// synchronisation waits; go tool trace -pprof=sched|net|sync).
		secs := max(1, int(h.o.rateD.Seconds())-1)
		go func() { errc <- fetch("trace?seconds="+strconv.Itoa(secs), "trace.out") }()
		if _, err := runRate(h.o.rate, 500*time.Millisecond, h.o.rateD, t.url, t.host, t.cookie, nil); err != nil {
			return "", err
		}
		if err := <-errc; err != nil {
			return "", err
		}
		out += fmt.Sprintf("  an execution trace at %d req/s: go tool trace -pprof=sched %s/trace.out > sched.pb; go tool pprof -top sched.pb\n", h.o.rate, h.o.profile)
	}
	return out, nil
}

// sessionBytes is the size of the gateway's stored sessions in Redis (the
// largest value under gw:session:*), or -1.
func (h *harness) sessionBytes(ctx context.Context) int64 {
	if h.rdb == nil {
		return -1
	}
	keys, err := h.rdb.Keys(ctx, "gw:session:*").Result()
	if err != nil || len(keys) == 0 {
		return -1
	}
	var max int64 = -1
	for _, k := range keys {
		v, err := h.rdb.Get(ctx, k).Bytes()
		if err == nil && int64(len(v)) > max {
			max = int64(len(v))
			// The bench user's session, for docs/performance.md's size
			// breakdown (its tokens are sealed).
			_ = os.WriteFile(filepath.Join(h.o.work, "session-sample.json"), v, 0o600)
		}
	}
	return max
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func machine() string {
	model := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d cores (%s), %s", runtime.NumCPU(), model, runtime.Version())
}
