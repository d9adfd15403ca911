package vici

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// Handler answers one command. Events the command streams (list-sa for
// list-sas, control-log for initiate) go through emit, which delivers them
// to the asking client only, and only if it registered for them; they are
// sent before the response, as strongSwan does.
type Handler func(ctx context.Context, req *Message, emit func(event string, m *Message)) *Message

// Server answers VICI clients on a stream socket.
type Server struct {
	log    *slog.Logger
	mu     sync.Mutex
	cmds   map[string]Handler
	events map[string]bool
	conns  map[*conn]struct{}
}

// NewServer returns a server with no commands or events.
func NewServer(log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{log: log, cmds: map[string]Handler{}, events: map[string]bool{}, conns: map[*conn]struct{}{}}
}

// Handle registers the command name.
func (s *Server) Handle(name string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmds[name] = h
}

// AddEvents makes the events known, so clients may register for them.
func (s *Server) AddEvents(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		s.events[n] = true
	}
}

// Publish sends an event to every client registered for it. It never
// blocks: a client too slow to take its events is disconnected.
func (s *Server) Publish(event string, m *Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.registered(event) {
			c.send(Packet{Type: Event, Name: event, Msg: m}, false)
		}
	}
}

// Serve accepts clients on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) {
	go func() {
		<-ctx.Done()
		l.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.close()
		}
		s.mu.Unlock()
	}()
	for {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		c := newConn(nc)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go c.writer()
		go func() {
			s.serveConn(ctx, c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.close()
		}()
	}
}

// conn is one client. Everything it is sent goes through out, in order, to
// one writer goroutine; quit ends the writer and unblocks senders.
type conn struct {
	nc   net.Conn
	out  chan Packet
	mu   sync.Mutex
	regs map[string]bool
	once sync.Once
	quit chan struct{}
}

func newConn(nc net.Conn) *conn {
	return &conn{nc: nc, out: make(chan Packet, 256), regs: map[string]bool{}, quit: make(chan struct{})}
}

func (c *conn) registered(ev string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.regs[ev]
}

// send queues p; with wait unset a full queue drops the client.
func (c *conn) send(p Packet, wait bool) {
	if wait {
		select {
		case c.out <- p:
		case <-c.quit:
		}
		return
	}
	select {
	case c.out <- p:
	case <-c.quit:
	default:
		c.close()
	}
}

func (c *conn) close() {
	c.once.Do(func() {
		close(c.quit)
		c.nc.Close()
	})
}

func (c *conn) writer() {
	for {
		select {
		case p := <-c.out:
			_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := WritePacket(c.nc, p); err != nil {
				c.close()
				return
			}
		case <-c.quit:
			return
		}
	}
}

func (s *Server) serveConn(ctx context.Context, c *conn) {
	for {
		p, err := ReadPacket(c.nc)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("vici client dropped", "err", err)
			}
			return
		}
		switch p.Type {
		case CmdRequest:
			s.mu.Lock()
			h := s.cmds[p.Name]
			s.mu.Unlock()
			if h == nil {
				c.send(Packet{Type: CmdUnknown}, true)
				continue
			}
			resp := s.run(ctx, h, p, c)
			c.send(Packet{Type: CmdResponse, Msg: resp}, true)
		case EventRegister, EventUnregister:
			s.mu.Lock()
			known := s.events[p.Name]
			s.mu.Unlock()
			if !known {
				c.send(Packet{Type: EventUnknown}, true)
				continue
			}
			c.mu.Lock()
			if p.Type == EventRegister {
				c.regs[p.Name] = true
			} else {
				delete(c.regs, p.Name)
			}
			c.mu.Unlock()
			c.send(Packet{Type: EventConfirm}, true)
		default:
			s.log.Debug("vici client sent a server packet", "type", p.Type.String())
			return
		}
	}
}

// run calls a handler; a panic answers with an error instead of killing
// the daemon.
func (s *Server) run(ctx context.Context, h Handler, p Packet, c *conn) (resp *Message) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("recovered from a panic in a vici command", "command", p.Name, "panic", fmt.Sprint(r))
			resp = Failure(fmt.Sprintf("internal error handling %q (logged)", p.Name))
		}
	}()
	emit := func(ev string, m *Message) {
		if c.registered(ev) {
			c.send(Packet{Type: Event, Name: ev, Msg: m}, true)
		}
	}
	resp = h(ctx, p.Msg, emit)
	if resp == nil {
		resp = NewMessage()
	}
	return resp
}

// Success is the reply of a command that worked: success = yes.
func Success() *Message { return NewMessage().Set("success", "yes") }

// Failure is the reply of a command that failed: success = no and errmsg.
// Line breaks become "; ": swanctl prints an errmsg only if it is all
// printable.
func Failure(errmsg string) *Message {
	return NewMessage().Set("success", "no").Set("errmsg", strings.ReplaceAll(strings.TrimSpace(errmsg), "\n", "; "))
}
