// Package lease hands out virtual IP addresses from address pools to remote
// access clients (swanctl.conf pools), as strongSwan's in-memory pools do:
// each client gets an address no other client holds; an identity that comes
// back gets the address it had; an address whose client went away stays
// reserved for that identity (offline) until the pool runs out of fresh
// addresses, when the longest-offline lease is given to someone else.
//
// Every operation is O(1) amortised (maps and a list; no scan of the pool),
// so a gateway with tens of thousands of clients pays the same for its last
// client as for its first. The package does no I/O and holds no locks: the
// caller (the daemon's event loop) serialises access.
package lease

import (
	"container/list"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
)

// ErrExhausted is returned when a pool has no address left: every address
// is leased to a client that is online.
var ErrExhausted = errors.New("address pool exhausted")

// maxSize bounds a pool: indexes are uint32, and nobody leases more.
const maxSize = 1 << 24

// Pool is one address pool: an inclusive range of addresses and the leases
// on them.
type Pool struct {
	name       string
	start, end netip.Addr
	size       uint32
	next       uint32            // every index >= next that is not in byIndex is fresh
	byIndex    map[uint32]*Lease // every address that is leased, online or offline
	byIdentity map[string][]*Lease
	offline    *list.List // of *Lease, longest offline first
	online     int
}

// Lease is one address leased to one identity.
type Lease struct {
	Addr     netip.Addr
	Identity string
	// Online counts the IKE SAs that use the address; zero is offline.
	Online int
	index  uint32
	elem   *list.Element // in Pool.offline while offline
}

// New builds a pool over the inclusive range start..end (one address
// family; at most 2^24 addresses). For a subnet, strongSwan leaves out
// the network address (and for IPv4 the broadcast): the caller passes the
// range it wants to hand out.
func New(name string, start, end netip.Addr) (*Pool, error) {
	start, end = start.Unmap(), end.Unmap()
	if !start.IsValid() || !end.IsValid() || start.Is4() != end.Is4() || end.Less(start) {
		return nil, fmt.Errorf("pool %s: invalid range %s-%s", name, start, end)
	}
	n := new(big.Int).Sub(addrInt(end), addrInt(start))
	if !n.IsInt64() || n.Int64()+1 > maxSize {
		return nil, fmt.Errorf("pool %s: range %s-%s holds more than %d addresses", name, start, end, maxSize)
	}
	return &Pool{
		name: name, start: start, end: end, size: uint32(n.Int64() + 1),
		byIndex: map[uint32]*Lease{}, byIdentity: map[string][]*Lease{}, offline: list.New(),
	}, nil
}

// FromPrefix builds a pool over a subnet as strongSwan does: without the
// network address, and for IPv4 without the broadcast address when the
// subnet is /30 or wider (a single address or a /31 is used whole).
func FromPrefix(name string, p netip.Prefix) (*Pool, error) {
	p = p.Masked()
	start := p.Addr()
	end := lastAddr(p)
	if p.Bits() < start.BitLen()-1 {
		start = start.Next()
		if start.Is4() {
			end = end.Prev()
		}
	}
	return New(name, start, end)
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Name is the pool's name.
func (p *Pool) Name() string { return p.name }

// Base is the first address of the pool.
func (p *Pool) Base() netip.Addr { return p.start }

// End is the last address of the pool.
func (p *Pool) End() netip.Addr { return p.end }

// Size is how many addresses the pool holds.
func (p *Pool) Size() int { return int(p.size) }

// Online is how many addresses are leased to clients that are online.
func (p *Pool) Online() int { return p.online }

// Offline is how many addresses are reserved for clients that went away.
func (p *Pool) Offline() int { return p.offline.Len() }

// Contains reports whether the address lies in the pool.
func (p *Pool) Contains(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && a.Is4() == p.start.Is4() && !a.Less(p.start) && !p.end.Less(a)
}

// Acquire leases an address to an identity and marks it online. A valid
// requested address in the pool is given when it is free or already the
// identity's; otherwise the identity's offline lease, else a fresh address,
// else the longest-offline lease of another identity. An identity that
// already holds an online address and asks for any address gets a second
// one: two clients never share an address unless they ask for it by name
// with the same identity (a client reauthenticating keeps its address).
func (p *Pool) Acquire(identity string, requested netip.Addr) (netip.Addr, error) {
	requested = requested.Unmap()
	if requested.IsValid() && !requested.IsUnspecified() && p.Contains(requested) {
		idx := p.index(requested)
		if l := p.byIndex[idx]; l != nil {
			if l.Identity == identity {
				p.online1(l)
				return l.Addr, nil
			}
		} else {
			return p.take(idx, identity), nil
		}
	}
	for _, l := range p.byIdentity[identity] {
		if l.Online == 0 {
			p.online1(l)
			return l.Addr, nil
		}
	}
	for p.next < p.size {
		idx := p.next
		p.next++
		if p.byIndex[idx] == nil { // taken out of order by a request by name
			return p.take(idx, identity), nil
		}
	}
	if e := p.offline.Front(); e != nil {
		l := e.Value.(*Lease)
		p.drop(l)
		return p.take(l.index, identity), nil
	}
	return netip.Addr{}, fmt.Errorf("pool %s (%d addresses): %w", p.name, p.size, ErrExhausted)
}

// Release marks an identity's lease on an address offline (once for each
// Acquire): the address stays reserved for that identity. It reports
// whether there was such an online lease.
func (p *Pool) Release(identity string, addr netip.Addr) bool {
	if !p.Contains(addr) {
		return false
	}
	l := p.byIndex[p.index(addr)]
	if l == nil || l.Identity != identity || l.Online == 0 {
		return false
	}
	l.Online--
	if l.Online == 0 {
		p.online--
		l.elem = p.offline.PushBack(l)
	}
	return true
}

// Leases returns every lease, online and offline, in address order.
func (p *Pool) Leases() []Lease {
	out := make([]Lease, 0, len(p.byIndex))
	for _, l := range p.byIndex {
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b Lease) int { return a.Addr.Compare(b.Addr) })
	return out
}

// Adopt copies the leases of an older pool that fall within this one, as a
// reload does when a pool's range changed: clients keep their addresses
// where they still can.
func (p *Pool) Adopt(old *Pool) {
	for _, l := range old.Leases() {
		if !p.Contains(l.Addr) || p.byIndex[p.index(l.Addr)] != nil {
			continue
		}
		n := &Lease{Addr: l.Addr, Identity: l.Identity, Online: l.Online, index: p.index(l.Addr)}
		p.byIndex[n.index] = n
		p.byIdentity[n.Identity] = append(p.byIdentity[n.Identity], n)
		if n.Online > 0 {
			p.online++
		} else {
			n.elem = p.offline.PushBack(n)
		}
	}
}

func (p *Pool) online1(l *Lease) {
	if l.Online == 0 {
		p.offline.Remove(l.elem)
		l.elem = nil
		p.online++
	}
	l.Online++
}

func (p *Pool) take(idx uint32, identity string) netip.Addr {
	l := &Lease{Addr: p.addr(idx), Identity: identity, Online: 1, index: idx}
	p.byIndex[idx] = l
	p.byIdentity[identity] = append(p.byIdentity[identity], l)
	p.online++
	return l.Addr
}

// drop forgets an offline lease.
func (p *Pool) drop(l *Lease) {
	p.offline.Remove(l.elem)
	delete(p.byIndex, l.index)
	ls := p.byIdentity[l.Identity]
	for i, x := range ls {
		if x == l {
			ls = append(ls[:i], ls[i+1:]...)
			break
		}
	}
	if len(ls) == 0 {
		delete(p.byIdentity, l.Identity)
	} else {
		p.byIdentity[l.Identity] = ls
	}
}

// index is the address's offset from the pool's start; pools hold at most
// maxSize addresses, so the low 64 bits of the difference are all of it.
func (p *Pool) index(a netip.Addr) uint32 {
	return uint32(low64(a.Unmap()) - low64(p.start))
}

func low64(a netip.Addr) uint64 {
	b := a.As16()
	return binary.BigEndian.Uint64(b[8:])
}

func (p *Pool) addr(idx uint32) netip.Addr {
	b := p.start.AsSlice()
	carry := uint64(idx)
	for i := len(b) - 1; i >= 0 && carry > 0; i-- {
		s := uint64(b[i]) + carry&0xff
		b[i] = byte(s)
		carry = carry>>8 + s>>8
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func addrInt(a netip.Addr) *big.Int { return new(big.Int).SetBytes(a.AsSlice()) }
