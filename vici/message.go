// Package vici speaks strongSwan's Versatile IKE Control Interface: the
// message encoding (sections, key/values, lists), the packet framing on a
// stream socket and a server that answers commands and streams events, so
// strongSwan's own tools (swanctl, govici) drive cygnet unchanged.
//
// A message is a sequence of elements; each element is one type byte and its
// data:
//
//	SECTION_START name   SECTION_END   KEY_VALUE name value
//	LIST_START name      LIST_ITEM value   LIST_END
//
// where a name is one length byte and the bytes, and a value two length bytes
// (big endian) and the bytes.
package vici

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// Element types of the message encoding.
const (
	elemSectionStart = 1
	elemSectionEnd   = 2
	elemKeyValue     = 3
	elemListStart    = 4
	elemListItem     = 5
	elemListEnd      = 6
)

// MaxNesting bounds section depth when decoding, as strongSwan does, so a
// hostile message cannot make the decoder recurse without end.
const MaxNesting = 64

// Message is an ordered tree of key/values, lists and sections. Order is
// kept because strongSwan's tools print in the order they receive.
type Message struct {
	entries []entry
}

type entry struct {
	key     string
	value   []byte   // a key/value
	list    [][]byte // a list
	section *Message // a section
	kind    byte     // elemKeyValue, elemListStart or elemSectionStart
}

// NewMessage returns an empty message.
func NewMessage() *Message { return &Message{} }

// Set adds a key/value; an existing one of the same name is replaced.
func (m *Message) Set(key, value string) *Message {
	m.put(entry{key: key, kind: elemKeyValue, value: []byte(value)})
	return m
}

// SetBool adds key = yes or no, strongSwan's booleans.
func (m *Message) SetBool(key string, v bool) *Message {
	if v {
		return m.Set(key, "yes")
	}
	return m.Set(key, "no")
}

// SetUint adds a decimal number.
func (m *Message) SetUint(key string, v uint64) *Message {
	return m.Set(key, strconv.FormatUint(v, 10))
}

// SetList adds a list.
func (m *Message) SetList(key string, items []string) *Message {
	l := make([][]byte, len(items))
	for i, s := range items {
		l[i] = []byte(s)
	}
	m.put(entry{key: key, kind: elemListStart, list: l})
	return m
}

// Section adds (or returns the existing) section named key.
func (m *Message) Section(key string) *Message {
	for _, e := range m.entries {
		if e.key == key && e.kind == elemSectionStart {
			return e.section
		}
	}
	s := &Message{}
	m.entries = append(m.entries, entry{key: key, kind: elemSectionStart, section: s})
	return s
}

// SetSection adds s as the section named key.
func (m *Message) SetSection(key string, s *Message) *Message {
	m.put(entry{key: key, kind: elemSectionStart, section: s})
	return m
}

func (m *Message) put(e entry) {
	for i := range m.entries {
		if m.entries[i].key == e.key {
			m.entries[i] = e
			return
		}
	}
	m.entries = append(m.entries, e)
}

// Keys returns the names of the message's entries in order.
func (m *Message) Keys() []string {
	out := make([]string, len(m.entries))
	for i, e := range m.entries {
		out[i] = e.key
	}
	return out
}

// Get returns the value of key, if key is a key/value.
func (m *Message) Get(key string) (string, bool) {
	for _, e := range m.entries {
		if e.key == key && e.kind == elemKeyValue {
			return string(e.value), true
		}
	}
	return "", false
}

// String returns the value of key, or "" without one.
func (m *Message) String(key string) string {
	v, _ := m.Get(key)
	return v
}

// List returns the items of key, if key is a list.
func (m *Message) List(key string) ([]string, bool) {
	for _, e := range m.entries {
		if e.key == key && e.kind == elemListStart {
			out := make([]string, len(e.list))
			for i, b := range e.list {
				out[i] = string(b)
			}
			return out, true
		}
	}
	return nil, false
}

// Sub returns the section key, or nil.
func (m *Message) Sub(key string) *Message {
	for _, e := range m.entries {
		if e.key == key && e.kind == elemSectionStart {
			return e.section
		}
	}
	return nil
}

// Each calls f for every entry in order: value for a key/value, list for a
// list, section for a section (the others nil/empty).
func (m *Message) Each(f func(key string, value *string, list []string, section *Message) error) error {
	for _, e := range m.entries {
		var err error
		switch e.kind {
		case elemKeyValue:
			v := string(e.value)
			err = f(e.key, &v, nil, nil)
		case elemListStart:
			l := make([]string, len(e.list))
			for i, b := range e.list {
				l[i] = string(b)
			}
			err = f(e.key, nil, l, nil)
		default:
			err = f(e.key, nil, nil, e.section)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Encode appends the message's encoding to b. Names longer than 255 bytes
// and values longer than 65535 are errors, as the encoding cannot hold them.
func (m *Message) Encode(b []byte) ([]byte, error) {
	var err error
	for _, e := range m.entries {
		if len(e.key) > 255 {
			return nil, fmt.Errorf("vici: name %.20q... longer than 255 bytes", e.key)
		}
		switch e.kind {
		case elemKeyValue:
			b = append(b, elemKeyValue, byte(len(e.key)))
			b = append(b, e.key...)
			if b, err = appendValue(b, e.value); err != nil {
				return nil, fmt.Errorf("vici: %s: %w", e.key, err)
			}
		case elemListStart:
			b = append(b, elemListStart, byte(len(e.key)))
			b = append(b, e.key...)
			for _, it := range e.list {
				b = append(b, elemListItem)
				if b, err = appendValue(b, it); err != nil {
					return nil, fmt.Errorf("vici: %s: %w", e.key, err)
				}
			}
			b = append(b, elemListEnd)
		case elemSectionStart:
			b = append(b, elemSectionStart, byte(len(e.key)))
			b = append(b, e.key...)
			if b, err = e.section.Encode(b); err != nil {
				return nil, err
			}
			b = append(b, elemSectionEnd)
		}
	}
	return b, nil
}

func appendValue(b, v []byte) ([]byte, error) {
	if len(v) > 0xffff {
		return nil, errors.New("value longer than 65535 bytes")
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...), nil
}

// Decode parses an encoded message. It works in one pass over b with an
// explicit stack, so its time and memory are linear in len(b); values are
// copied out of b.
func Decode(b []byte) (*Message, error) {
	root := &Message{}
	stack := []*Message{root}
	var list *entry // the open list, if any
	var listOwner *Message
	pos := 0
	name := func() (string, error) {
		if pos >= len(b) {
			return "", errors.New("truncated name")
		}
		n := int(b[pos])
		pos++
		if pos+n > len(b) {
			return "", errors.New("truncated name")
		}
		s := string(b[pos : pos+n])
		pos += n
		return s, nil
	}
	value := func() ([]byte, error) {
		if pos+2 > len(b) {
			return nil, errors.New("truncated value")
		}
		n := int(binary.BigEndian.Uint16(b[pos:]))
		pos += 2
		if pos+n > len(b) {
			return nil, errors.New("truncated value")
		}
		v := append([]byte(nil), b[pos:pos+n]...)
		pos += n
		return v, nil
	}
	for pos < len(b) {
		t := b[pos]
		at := pos
		pos++
		cur := stack[len(stack)-1]
		if list != nil && t != elemListItem && t != elemListEnd {
			return nil, fmt.Errorf("vici: offset %d: element type %d inside list %q", at, t, list.key)
		}
		switch t {
		case elemSectionStart:
			n, err := name()
			if err != nil {
				return nil, fmt.Errorf("vici: offset %d: section: %w", at, err)
			}
			if len(stack) > MaxNesting {
				return nil, fmt.Errorf("vici: offset %d: sections nested deeper than %d", at, MaxNesting)
			}
			s := &Message{}
			cur.entries = append(cur.entries, entry{key: n, kind: elemSectionStart, section: s})
			stack = append(stack, s)
		case elemSectionEnd:
			if len(stack) == 1 {
				return nil, fmt.Errorf("vici: offset %d: section end without a section", at)
			}
			stack = stack[:len(stack)-1]
		case elemKeyValue:
			n, err := name()
			if err == nil {
				var v []byte
				if v, err = value(); err == nil {
					cur.entries = append(cur.entries, entry{key: n, kind: elemKeyValue, value: v})
				}
			}
			if err != nil {
				return nil, fmt.Errorf("vici: offset %d: key/value: %w", at, err)
			}
		case elemListStart:
			n, err := name()
			if err != nil {
				return nil, fmt.Errorf("vici: offset %d: list: %w", at, err)
			}
			list = &entry{key: n, kind: elemListStart}
			listOwner = cur
		case elemListItem:
			if list == nil {
				return nil, fmt.Errorf("vici: offset %d: list item outside a list", at)
			}
			v, err := value()
			if err != nil {
				return nil, fmt.Errorf("vici: offset %d: list item: %w", at, err)
			}
			list.list = append(list.list, v)
		case elemListEnd:
			if list == nil {
				return nil, fmt.Errorf("vici: offset %d: list end outside a list", at)
			}
			listOwner.entries = append(listOwner.entries, *list)
			list = nil
		default:
			return nil, fmt.Errorf("vici: offset %d: unknown element type %d", at, t)
		}
	}
	if list != nil {
		return nil, fmt.Errorf("vici: list %q not closed", list.key)
	}
	if len(stack) != 1 {
		return nil, fmt.Errorf("vici: %d sections not closed", len(stack)-1)
	}
	return root, nil
}
