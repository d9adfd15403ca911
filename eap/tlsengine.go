package eap

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// tlsEngine runs Go's crypto/tls over an in-memory connection, so EAP
// messages can drive it one flight at a time. The handshake runs in its own
// goroutine; the caller feeds it the peer's bytes and waits until it either
// wants more input (it reads from an empty buffer) or finishes. Between
// steps exactly one side runs, so what TLS wrote is complete when the
// caller looks at it.
type tlsEngine struct {
	conn    *tls.Conn
	mc      *memConn
	server  bool
	events  chan engineEvent
	done    bool
	started bool
	err     error
	keyLog  bytes.Buffer
	hello   helloScanner
}

type engineEvent struct {
	done bool
	err  error
	// read is set when a post-handshake Read ended, with what it read.
	read bool
	data []byte
}

// tlsIdleTimeout ends a handshake goroutine whose conversation was
// abandoned (an IKE SA that went away mid-EAP) without Close.
const tlsIdleTimeout = 5 * time.Minute

func newTLSEngine(cfg *tls.Config, server bool) *tlsEngine {
	e := &tlsEngine{server: server, events: make(chan engineEvent, 1)}
	e.mc = &memConn{feed: make(chan []byte), events: e.events, closed: make(chan struct{})}
	cfg.KeyLogWriter = &lockedWriter{w: &e.keyLog, mu: &e.mc.mu}
	if server {
		e.conn = tls.Server(e.mc, cfg)
	} else {
		e.conn = tls.Client(e.mc, cfg)
	}
	return e
}

// start runs the handshake until it first waits for the peer; it returns
// what TLS wrote (a client's ClientHello; nothing for a server).
func (e *tlsEngine) start() ([]byte, error) {
	e.started = true
	go func() {
		err := e.conn.Handshake()
		e.events <- engineEvent{done: true, err: err}
	}()
	return e.wait()
}

// feed hands the peer's TLS message to the handshake and returns what TLS
// answered. After the handshake ended, done is set and err says whether it
// failed; the output may then hold a last flight or an alert.
func (e *tlsEngine) feed(msg []byte) ([]byte, error) {
	if e.done {
		return nil, errors.New("eap-tls: TLS message after the handshake ended")
	}
	if !e.started {
		// A server reads first: start it, it waits for the ClientHello.
		if out, err := e.start(); err != nil || len(out) > 0 {
			return out, fmt.Errorf("eap-tls: TLS server did not wait for the ClientHello: %v", err)
		}
	}
	if !e.server {
		e.hello.scan(msg)
	}
	select {
	case e.mc.feed <- msg:
	case <-e.mc.closed:
		return nil, errors.New("eap-tls: conversation closed")
	}
	return e.wait()
}

func (e *tlsEngine) wait() ([]byte, error) {
	ev := <-e.events
	if ev.done {
		e.done, e.err = true, ev.err
	}
	e.mc.mu.Lock()
	out := e.mc.out
	e.mc.out = nil
	e.mc.mu.Unlock()
	if e.server {
		e.hello.scan(out)
	}
	return out, e.err
}

// readIndication reads RFC 9190 2.1.1's protected success indication, one
// byte 0x00 of application data, from the server's message after a TLS 1.3
// handshake. It returns what TLS wrote meanwhile (nothing, or an alert).
func (e *tlsEngine) readIndication(msg []byte) ([]byte, error) {
	go func() {
		var b [16]byte
		n, err := e.conn.Read(b[:])
		e.events <- engineEvent{read: true, err: err, data: b[:n]}
	}()
	if ev := <-e.events; ev.read { // the first Read finds nothing buffered
		return nil, fmt.Errorf("eap-tls: reading the success indication: %v", ev.err)
	}
	select {
	case e.mc.feed <- msg:
	case <-e.mc.closed:
		return nil, errClosed
	}
	ev := <-e.events
	e.mc.mu.Lock()
	out := e.mc.out
	e.mc.out = nil
	e.mc.mu.Unlock()
	switch {
	case !ev.read:
		// TLS wants more: the message held no application data.
		e.close()
		return out, errors.New("eap-tls: the server's message after the TLS 1.3 handshake has no success indication")
	case ev.err != nil:
		return out, fmt.Errorf("eap-tls: after the TLS 1.3 handshake: %w", ev.err)
	case len(ev.data) != 1 || ev.data[0] != 0:
		return out, fmt.Errorf("eap-tls: TLS 1.3 success indication %x, want 00", ev.data)
	}
	return out, nil
}

// writeIndication is the server's protected success indication after a
// TLS 1.3 handshake: one byte 0x00 of application data (RFC 9190 2.1.1).
func (e *tlsEngine) writeIndication() ([]byte, error) {
	if _, err := e.conn.Write([]byte{0}); err != nil {
		return nil, fmt.Errorf("eap-tls: success indication: %w", err)
	}
	e.mc.mu.Lock()
	out := e.mc.out
	e.mc.out = nil
	e.mc.mu.Unlock()
	return out, nil
}

// version is the negotiated TLS version once the handshake is done.
func (e *tlsEngine) version() uint16 { return e.conn.ConnectionState().Version }

// close ends the handshake goroutine if it still waits for input.
func (e *tlsEngine) close() {
	e.mc.closeOnce.Do(func() { close(e.mc.closed) })
}

// keyMaterial is the 128 bytes of MSK and EMSK. For TLS 1.2 it is RFC 5216
// 2.3's Key_Material,
// TLS-PRF-128(master_secret, "client EAP encryption", client_random ||
// server_random): the RFC 5705 exporter with that label and no context.
// crypto/tls only exports with the extended master secret, which
// strongSwan 5.9.8 does not negotiate, so we compute the PRF from the
// master secret crypto/tls logs and the randoms of the hellos.
func (e *tlsEngine) keyMaterial() ([]byte, error) {
	st := e.conn.ConnectionState()
	if st.Version == tls.VersionTLS13 {
		// RFC 9190 2.3: TLS-Exporter("EXPORTER_EAP_TLS_Key_Material",
		// Type-Code 0x0D, 128).
		return st.ExportKeyingMaterial("EXPORTER_EAP_TLS_Key_Material", []byte{TypeTLS}, 128)
	}
	if st.Version != tls.VersionTLS12 {
		return nil, fmt.Errorf("eap-tls: key material for %s not implemented", tls.VersionName(st.Version))
	}
	e.mc.mu.Lock()
	clientRandom, master, err := parseKeyLog(e.keyLog.Bytes())
	// The master secret is needed once: wipe the log's copy.
	clear(e.keyLog.Bytes())
	e.keyLog.Reset()
	e.mc.mu.Unlock()
	if err != nil {
		return nil, err
	}
	defer clear(master)
	if e.hello.random == nil {
		return nil, errors.New("eap-tls: no ServerHello seen")
	}
	h := sha256.New
	if strings.HasSuffix(tls.CipherSuiteName(st.CipherSuite), "SHA384") {
		h = sha512.New384
	}
	seed := append(append([]byte(nil), clientRandom...), e.hello.random...)
	return prf12(h, master, []byte("client EAP encryption"), seed, 128), nil
}

// parseKeyLog reads the NSS key log line crypto/tls writes for TLS 1.2:
// CLIENT_RANDOM <client random> <master secret>.
func parseKeyLog(log []byte) (clientRandom, master []byte, err error) {
	for line := range bytes.SplitSeq(log, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) != 3 || string(f[0]) != "CLIENT_RANDOM" || len(f[1]) != 64 || len(f[2]) != 96 {
			continue
		}
		cr, ms := make([]byte, 32), make([]byte, 48)
		_, err1 := hex.Decode(cr, f[1])
		_, err2 := hex.Decode(ms, f[2])
		if err1 != nil || err2 != nil {
			clear(ms)
			return nil, nil, errors.New("eap-tls: malformed key log line")
		}
		return cr, ms, nil
	}
	return nil, nil, errors.New("eap-tls: no master secret logged")
}

// prf12 is the TLS 1.2 PRF (RFC 5246 5): P_hash(secret, label || seed).
func prf12(h func() hash.Hash, secret, label, seed []byte, n int) []byte {
	ls := append(append([]byte(nil), label...), seed...)
	mac := hmac.New(h, secret)
	mac.Write(ls)
	a := mac.Sum(nil)
	out := make([]byte, 0, n+mac.Size())
	for len(out) < n {
		mac.Reset()
		mac.Write(a)
		mac.Write(ls)
		out = mac.Sum(out)
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(a[:0])
	}
	return out[:n]
}

// helloScanner finds the server random in the server's first flight: the
// handshake records' first message is the ServerHello, whose random follows
// its type, length and version.
type helloScanner struct {
	hs     []byte
	random []byte
	stop   bool
}

func (s *helloScanner) scan(b []byte) {
	for !s.stop && s.random == nil && len(b) >= 5 {
		typ, n := b[0], int(b[3])<<8|int(b[4])
		if len(b) < 5+n {
			s.stop = true // records are fed whole; a partial one ends the search
			return
		}
		if typ == 22 { // handshake
			s.hs = append(s.hs, b[5:5+n]...)
		} else {
			s.stop = true
			return
		}
		b = b[5+n:]
		if len(s.hs) >= 4+2+32 {
			if s.hs[0] == 2 { // server_hello
				s.random = append([]byte(nil), s.hs[6:38]...)
			}
			s.stop, s.hs = true, nil
		}
	}
}

// memConn is the in-memory net.Conn under the TLS engine.
type memConn struct {
	mu        sync.Mutex
	out       []byte
	in        []byte
	feed      chan []byte
	events    chan engineEvent
	closed    chan struct{}
	closeOnce sync.Once
}

var errClosed = errors.New("eap-tls: conversation closed")

func (c *memConn) Read(b []byte) (int, error) {
	if len(c.in) == 0 {
		c.events <- engineEvent{} // wants input: the caller sends what we wrote
		t := time.NewTimer(tlsIdleTimeout)
		defer t.Stop()
		select {
		case d := <-c.feed:
			c.in = d
		case <-c.closed:
			return 0, errClosed
		case <-t.C:
			return 0, errors.New("eap-tls: conversation idle for too long")
		}
	}
	n := copy(b, c.in)
	c.in = c.in[n:]
	return n, nil
}

func (c *memConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.out = append(c.out, b...)
	c.mu.Unlock()
	return len(b), nil
}

func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return memAddr{} }
func (c *memConn) RemoteAddr() net.Addr             { return memAddr{} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

type memAddr struct{}

func (memAddr) Network() string { return "eap" }
func (memAddr) String() string  { return "eap" }

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
