package config

import "strings"

// resolveRefs returns a copy of the tree in which every section that
// references others ("name : a.b {") also holds the settings and subsections
// it inherits: its own values first, then those of each reference in order,
// merged section by section. Inherited settings keep the position of the line
// that wrote them. Unknown references and cycles are problems.
func resolveRefs(root *Section, problems *Problems) *Section {
	r := &resolver{root: root, done: map[*Section]*Section{}, busy: map[*Section]bool{}, problems: problems}
	return r.effective(root)
}

type resolver struct {
	root     *Section
	done     map[*Section]*Section
	busy     map[*Section]bool
	problems *Problems
}

func (r *resolver) lookup(path string) *Section {
	sec := r.root
	for _, name := range strings.Split(path, ".") {
		if sec = sec.Sub(name); sec == nil {
			return nil
		}
	}
	return sec
}

func (r *resolver) effective(sec *Section) *Section {
	if eff, ok := r.done[sec]; ok {
		return eff
	}
	r.busy[sec] = true
	eff := &Section{Name: sec.Name, Pos: sec.Pos, Refs: sec.Refs}
	for _, kv := range sec.Settings {
		c := *kv
		eff.set(&c)
	}
	for _, sub := range sec.Sections {
		e := r.effective(sub)
		eff.addSection(e)
	}
	for _, ref := range sec.Refs {
		target := r.lookup(ref.Path)
		switch {
		case target == nil:
			r.problems.add(ref.Pos, "section %q references %q, which does not exist", sec.Name, ref.Path)
			continue
		case r.busy[target]:
			r.problems.add(ref.Pos, "section %q references %q, which refers back to it", sec.Name, ref.Path)
			continue
		}
		inherit(eff, r.effective(target))
	}
	delete(r.busy, sec)
	r.done[sec] = eff
	return eff
}

// inherit fills dst with what src has and dst has not, recursively.
func inherit(dst, src *Section) {
	for _, kv := range src.Settings {
		if dst.Lookup(kv.Key) == nil {
			c := *kv
			dst.set(&c)
		}
	}
	for _, sub := range src.Sections {
		if have := dst.Sub(sub.Name); have != nil {
			inherit(have, sub)
			continue
		}
		c := &Section{Name: sub.Name, Pos: sub.Pos, Refs: sub.Refs}
		inherit(c, sub)
		dst.addSection(c)
	}
}

// referenced collects the paths of all sections named in references, so
// that template sections outside the known top-level ones are accepted.
func referenced(sec *Section, into map[string]bool) {
	for _, r := range sec.Refs {
		into[r.Path] = true
	}
	for _, sub := range sec.Sections {
		referenced(sub, into)
	}
}
