//go:build prwlock_etcd

package lock

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// A remote lock is named by a URL:
//
//	etcd://[user[:password]@]host[:port][,host[:port]...]/NAME[?option=value&...]
//	etcds://...   the same over TLS
//
// NAME is the lock's name (percent-decoding applies; it may contain '/').
// The port defaults to 2379. Options:
//
//	ttl=SECONDS      lease of the holders' session (default 10, at least 1;
//	                 the server may raise it to its minimum)
//	timeout=DURATION bound on each request and on the connection (Go
//	                 duration, default 5s)
//	cacert=FILE      etcds: CA bundle to verify the servers (default: the
//	                 system's roots)
//	cert=FILE, key=FILE  etcds: client certificate and its key
//
// The URL is also the lock's token: it carries the password, if any, as a
// pickle would.

const (
	etcdDefaultTTL     = 10
	etcdDefaultTimeout = 5 * time.Second
	etcdDefaultPort    = "2379"
)

type etcdConfig struct {
	tls       bool
	endpoints []string // host:port
	user      string
	password  string
	name      string
	ttl       int
	timeout   time.Duration
	cacert    string
	cert, key string
}

func parseEtcdURL(s string) (*etcdConfig, error) {
	bad := func(format string, args ...any) (*etcdConfig, error) {
		return nil, detail(ErrInvalid, "lock URL %q: "+format, append([]any{redactURL(s)}, args...)...)
	}
	c := &etcdConfig{ttl: etcdDefaultTTL, timeout: etcdDefaultTimeout}
	rest, ok := strings.CutPrefix(s, "etcd://")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "etcds://"); !ok {
			return bad("not an etcd:// or etcds:// URL")
		}
		c.tls = true
	}
	if strings.IndexByte(s, 0) >= 0 {
		return bad("contains a NUL byte")
	}
	authority, path, ok := strings.Cut(rest, "/")
	if !ok {
		return bad("no lock name (etcd://host:2379/NAME)")
	}
	path, query, _ := strings.Cut(path, "?")
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		ui := authority[:i]
		authority = authority[i+1:]
		u, p, hasPass := strings.Cut(ui, ":")
		var err error
		if c.user, err = url.PathUnescape(u); err != nil || c.user == "" {
			return bad("bad user")
		}
		if hasPass {
			if c.password, err = url.PathUnescape(p); err != nil {
				return bad("bad password")
			}
		}
	}
	if authority == "" {
		return bad("no endpoint")
	}
	for _, ep := range strings.Split(authority, ",") {
		if ep == "" {
			return bad("empty endpoint")
		}
		host, port, err := net.SplitHostPort(ep)
		if err != nil {
			host, port = ep, etcdDefaultPort
			if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
				host = host[1 : len(host)-1]
			}
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
			return bad("bad endpoint %q", ep)
		}
		c.endpoints = append(c.endpoints, net.JoinHostPort(host, port))
	}
	name, err := url.PathUnescape(path)
	if err != nil || name == "" {
		return bad("bad or empty lock name")
	}
	if len(name) > 1024 {
		return bad("lock name longer than 1024 bytes")
	}
	c.name = name
	vals, err := url.ParseQuery(query)
	if err != nil {
		return bad("bad options: %v", err)
	}
	for k, v := range vals {
		if len(v) != 1 {
			return bad("option %s given %d times", k, len(v))
		}
		switch val := v[0]; k {
		case "ttl":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > 1<<30 {
				return bad("ttl must be a whole number of seconds >= 1")
			}
			c.ttl = n
		case "timeout":
			d, err := time.ParseDuration(val)
			if err != nil || d <= 0 {
				return bad("timeout must be a positive Go duration such as 5s")
			}
			c.timeout = d
		case "cacert":
			c.cacert = val
		case "cert":
			c.cert = val
		case "key":
			c.key = val
		default:
			return bad("unknown option %q (ttl, timeout, cacert, cert, key)", k)
		}
	}
	if !c.tls && (c.cacert != "" || c.cert != "" || c.key != "") {
		return bad("cacert, cert and key need etcds://")
	}
	if (c.cert == "") != (c.key == "") {
		return bad("cert and key go together")
	}
	return c, nil
}

// String is the canonical URL: the token, and the key under which one
// process shares one connection and one session per lock.
func (c *etcdConfig) String() string { return c.format(true) }

func (c *etcdConfig) format(withPassword bool) string {
	var b strings.Builder
	if c.tls {
		b.WriteString("etcds://")
	} else {
		b.WriteString("etcd://")
	}
	if c.user != "" {
		b.WriteString(url.PathEscape(c.user))
		if c.password != "" {
			if withPassword {
				b.WriteString(":" + url.PathEscape(c.password))
			} else {
				b.WriteString(":xxxxx")
			}
		}
		b.WriteByte('@')
	}
	b.WriteString(strings.Join(c.endpoints, ","))
	b.WriteByte('/')
	b.WriteString(url.PathEscape(c.name))
	var opts []string
	if c.ttl != etcdDefaultTTL {
		opts = append(opts, "ttl="+strconv.Itoa(c.ttl))
	}
	if c.timeout != etcdDefaultTimeout {
		opts = append(opts, "timeout="+c.timeout.String())
	}
	for k, v := range map[string]string{"cacert": c.cacert, "cert": c.cert, "key": c.key} {
		if v != "" {
			opts = append(opts, k+"="+url.QueryEscape(v))
		}
	}
	if len(opts) > 0 {
		sort.Strings(opts)
		b.WriteString("?" + strings.Join(opts, "&"))
	}
	return b.String()
}

// redactURL hides the password of a lock URL in messages.
func redactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	auth, path, _ := strings.Cut(rest, "/")
	at := strings.LastIndexByte(auth, '@')
	if at < 0 {
		return s
	}
	user, _, hasPass := strings.Cut(auth[:at], ":")
	if !hasPass {
		return s
	}
	return scheme + "://" + user + ":xxxxx" + auth[at:] + "/" + path
}

// tlsConfig builds the client's TLS settings, or nil for etcd://.
func (c *etcdConfig) tlsConfig() (*tls.Config, error) {
	if !c.tls {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.cacert != "" {
		pem, err := os.ReadFile(c.cacert)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, detail(ErrInvalid, "cacert %s holds no PEM certificate", c.cacert)
		}
		t.RootCAs = pool
	}
	if c.cert != "" {
		cert, err := tls.LoadX509KeyPair(c.cert, c.key)
		if err != nil {
			return nil, detail(ErrInvalid, "client certificate: %v", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}
