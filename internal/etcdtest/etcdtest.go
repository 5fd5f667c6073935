//go:build prwlock_etcd

// Package etcdtest runs throwaway etcd clusters on loopback for the tests
// and benchmarks of prwlock's etcd backend: free ports, a temporary data
// directory, and nothing left behind by Close.
//
// The server is the etcd binary found in $PRWLOCK_ETCD or on PATH (`make`
// installs Debian's etcd-server package). Elections are tuned fast
// (heartbeat 50 ms, election timeout 500 ms), which also lowers the
// server's minimum lease TTL to one second.
package etcdtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Member is one etcd server of a cluster.
type Member struct {
	Name       string
	ClientURL  string // http://127.0.0.1:port
	PeerURL    string
	dir        string
	cmd        *exec.Cmd
	exited     chan struct{}
	restarting bool
}

// Cluster is a running loopback cluster.
type Cluster struct {
	Members []*Member
	dir     string
	bin     string
	initial string
	token   string
	tls     *TLS
}

// TLS makes the members serve clients over TLS only, and require a client
// certificate signed by CA. Files are PEM.
type TLS struct {
	CA, Cert, Key string      // server side: the CA of clients, the server's pair
	Client        *tls.Config // what WaitReady and Leader connect with
}

// Binary returns the etcd server to run, or an error saying how to get one.
func Binary() (string, error) {
	if b := os.Getenv("PRWLOCK_ETCD"); b != "" {
		return b, nil
	}
	b, err := exec.LookPath("etcd")
	if err != nil {
		return "", errors.New("no etcd server: run `make deps` (installs Debian's etcd-server) or set PRWLOCK_ETCD")
	}
	return b, nil
}

// freePorts reserves n distinct loopback ports. They are released before
// etcd binds them, so Start retries if another process takes one.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Start runs an n-member cluster and waits until it serves requests.
func Start(n int) (*Cluster, error) { return StartTLS(n, nil) }

// StartTLS is Start with clients served over TLS (nil: plain).
func StartTLS(n int, t *TLS) (*Cluster, error) {
	var last error
	for try := 0; try < 3; try++ {
		c, err := start(n, t)
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}

func start(n int, t *TLS) (*Cluster, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "prwlock-etcd-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin, token: filepath.Base(dir), tls: t}
	scheme := "http"
	if t != nil {
		scheme = "https"
	}
	var initial []string
	for i := 0; i < n; i++ {
		m := &Member{Name: fmt.Sprintf("m%d", i), ClientURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[2*i]),
			PeerURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]), dir: filepath.Join(dir, fmt.Sprintf("m%d", i))}
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	c.initial = strings.Join(initial, ",")
	for _, m := range c.Members {
		if err := c.run(m); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.WaitReady(20 * time.Second); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) run(m *Member) error {
	log, err := os.OpenFile(filepath.Join(c.dir, m.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	var tlsArgs []string
	if c.tls != nil {
		tlsArgs = []string{"--cert-file", c.tls.Cert, "--key-file", c.tls.Key,
			"--trusted-ca-file", c.tls.CA, "--client-cert-auth"}
	}
	cmd := exec.Command(c.bin, append(tlsArgs,
		"--name", m.Name, "--data-dir", m.dir,
		"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
		"--listen-peer-urls", m.PeerURL, "--initial-advertise-peer-urls", m.PeerURL,
		"--initial-cluster", c.initial, "--initial-cluster-state", "new",
		"--initial-cluster-token", c.token,
		"--heartbeat-interval", "50", "--election-timeout", "500",
		"--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn")...)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, and killed if the test process dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := startPinned(cmd); err != nil {
		return err
	}
	m.cmd = cmd
	m.exited = make(chan struct{})
	go func(ch chan struct{}) { cmd.Wait(); close(ch) }(m.exited)
	return nil
}

// Pdeathsig fires when the thread that started the child exits, and Go
// ends threads whose goroutine exits while locked to them: start every
// server from one thread that never exits.
var spawn = make(chan func())

func init() {
	go func() {
		runtime.LockOSThread()
		for f := range spawn {
			f()
		}
	}()
}

func startPinned(cmd *exec.Cmd) error {
	done := make(chan error)
	spawn <- func() { done <- cmd.Start() }
	return <-done
}

// Endpoints returns the members' client addresses, host:port.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, strings.TrimPrefix(strings.TrimPrefix(m.ClientURL, "http://"), "https://"))
	}
	return out
}

// URL returns the lock URL of name on this cluster, with options (such as
// "ttl=2") appended.
func (c *Cluster) URL(name string, opts ...string) string {
	u := "etcd://" + strings.Join(c.Endpoints(), ",") + "/" + name
	if len(opts) > 0 {
		u += "?" + strings.Join(opts, "&")
	}
	return u
}

// WaitReady waits until every running member answers a linearizable read.
func (c *Cluster) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, m := range c.Members {
		if m.cmd == nil {
			continue
		}
		for {
			err := c.ping(m.ClientURL)
			if err == nil {
				break
			}
			select {
			case <-m.exited:
				b, _ := os.ReadFile(filepath.Join(c.dir, m.Name+".log"))
				return fmt.Errorf("etcd %s exited: %s", m.Name, lastLines(string(b), 5))
			default:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("etcd %s not ready after %v: %v", m.Name, timeout, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func (c *Cluster) client(url string) (*clientv3.Client, error) {
	cfg := clientv3.Config{Endpoints: []string{url}, DialTimeout: time.Second, Logger: zap.NewNop()}
	if c.tls != nil {
		cfg.TLS = c.tls.Client
	}
	return clientv3.New(cfg)
}

func (c *Cluster) ping(url string) error {
	cli, err := c.client(url)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = cli.Get(ctx, "ping")
	return err
}

// Stop ends member i with sig (SIGTERM or SIGKILL) and waits for it.
func (c *Cluster) Stop(i int, sig syscall.Signal) {
	m := c.Members[i]
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Signal(sig)
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		m.cmd.Process.Kill()
		<-m.exited
	}
	m.cmd = nil
}

// Restart starts a stopped member again on its data directory.
func (c *Cluster) Restart(i int) error {
	m := c.Members[i]
	if m.cmd != nil {
		return nil
	}
	return c.run(m)
}

// Running reports whether member i is running.
func (c *Cluster) Running(i int) bool { return c.Members[i].cmd != nil }

// Leader returns the index of the member that leads, or -1.
func (c *Cluster) Leader() int {
	for i, m := range c.Members {
		if m.cmd == nil {
			continue
		}
		cli, err := c.client(m.ClientURL)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := cli.Status(ctx, m.ClientURL)
		cancel()
		cli.Close()
		if err == nil && st.Leader == st.Header.MemberId {
			return i
		}
	}
	return -1
}

// Close stops every member and removes the data directory.
func (c *Cluster) Close() {
	for i := range c.Members {
		c.Stop(i, syscall.SIGKILL)
	}
	os.RemoveAll(c.dir)
}
