package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Compact is the default codec, the framework's own: a tagged binary form
// of Go values compiled once per type, with struct fields by name (a
// decoder skips fields it does not have and leaves those it was not sent
// at their zero value), integers as varints, floats as 8 bytes and
// []float64 as one run of them, times exactly (with their zone offset).
//
// It encodes booleans, integers, floats, strings, []byte, slices, arrays,
// maps, structs (their exported fields; a `codec:"name"` tag renames one,
// `codec:"-"` leaves it out), pointers, time.Time and values in empty
// interfaces (decoded as bool, int64, uint64, float64, string, []byte,
// []any, map[string]any, []float64 or time.Time). Channels, functions,
// complex numbers and interfaces with methods are an error.
//
// Decoding checks every count against the bytes left before it allocates,
// nests at most 32 levels and never panics; it refuses a value of another
// kind than the Go value it fills, naming the field.
var Compact Codec = compactCodec{}

// compactVersion is the first byte of every Compact encoding.
const compactVersion = 1

// The kinds of value on the wire: a byte before each value.
const (
	kNil    byte = iota // a nil pointer, slice, map or interface
	kFalse              // false
	kTrue               // true
	kInt                // a signed varint (zig-zag)
	kUint               // an unsigned varint
	kFloat              // 8 bytes, little-endian
	kString             // a uvarint length, then the bytes
	kBytes              // a uvarint length, then the bytes
	kList               // a uvarint count, then the values
	kMap                // a uvarint count, then key and value, in turn
	kStruct             // a uvarint count, then name (a length and its bytes) and value, in turn
	kFloats             // a uvarint count, then 8 bytes each, little-endian
	kTime               // a uvarint length, then time.Time's binary form
	kinds
)

var kindNames = [kinds]string{"nil", "false", "true", "an integer", "an unsigned integer", "a float", "a string",
	"bytes", "a list", "a map", "a struct", "a float vector", "a time"}

func kindName(k byte) string {
	if k < kinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind %d", k)
}

// maxDepth bounds nesting (of pointers, lists, maps and structs), in
// encoding and decoding alike: a hostile value cannot exhaust the stack.
const maxDepth = 32

type compactCodec struct{}

func (compactCodec) Name() string { return "compact" }

func (compactCodec) Marshal(v any) ([]byte, error) {
	if v == nil {
		return []byte{compactVersion, kNil}, nil
	}
	rv := reflect.ValueOf(v)
	p, err := planOf(rv.Type())
	if err != nil {
		return nil, err
	}
	b := make([]byte, 1, p.hint.Load()+1)
	b[0] = compactVersion
	if b, err = p.enc(b, rv, 0); err != nil {
		return nil, err
	}
	if n := int64(min(len(b), 1<<16)); n != p.hint.Load() {
		p.hint.Store(n) // rarely: goroutines encoding one type at once share it
	}
	return b, nil
}

func (compactCodec) Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("codec: Unmarshal into %T, not a non-nil pointer", v)
	}
	p, err := planOf(rv.Type().Elem())
	if err != nil {
		return err
	}
	if len(data) == 0 || data[0] != compactVersion {
		return errors.New("codec: not a compact encoding (version byte)")
	}
	d := decoders.Get().(*decoder)
	*d = decoder{b: data[1:]}
	p.dec(d, rv.Elem())
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d bytes after the value", len(d.b))
	}
	err = d.err
	if de, ok := err.(*decodeError); ok {
		de.field = d.field // where it failed, if in a struct's field
	}
	*d = decoder{}
	decoders.Put(d)
	return err
}

var decoders = sync.Pool{New: func() any { return new(decoder) }}

// plan is how one Go type is encoded and decoded. The functions of a
// recursive type reach each other through their plans, so they are
// filled in after the plans exist.
type plan struct {
	t    reflect.Type
	enc  func(b []byte, v reflect.Value, depth int) ([]byte, error)
	dec  func(d *decoder, v reflect.Value) // v is settable; failures go to d.err
	hint atomic.Int64                      // the last encoding's size, to allocate once
}

var plans sync.Map // reflect.Type → *plan

var (
	planMu   sync.Mutex // one compilation at a time
	timeType = reflect.TypeFor[time.Time]()
	anyType  = reflect.TypeFor[any]()
)

func planOf(t reflect.Type) (*plan, error) {
	if p, ok := plans.Load(t); ok {
		return p.(*plan), nil
	}
	planMu.Lock()
	defer planMu.Unlock()
	building := map[reflect.Type]*plan{}
	p, err := compile(t, building)
	if err != nil {
		return nil, err
	}
	for t, p := range building {
		plans.Store(t, p)
	}
	return p, nil
}

func compile(t reflect.Type, building map[reflect.Type]*plan) (*plan, error) {
	if p, ok := plans.Load(t); ok {
		return p.(*plan), nil
	}
	if p, ok := building[t]; ok {
		return p, nil
	}
	p := &plan{t: t}
	building[t] = p
	switch t.Kind() {
	case reflect.Bool:
		p.enc = func(b []byte, v reflect.Value, _ int) ([]byte, error) {
			if v.Bool() {
				return append(b, kTrue), nil
			}
			return append(b, kFalse), nil
		}
		p.dec = func(d *decoder, v reflect.Value) {
			switch k := d.kind(); k {
			case kTrue, kFalse:
				v.SetBool(k == kTrue)
			default:
				d.mismatch(k, t)
			}
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		p.enc = func(b []byte, v reflect.Value, _ int) ([]byte, error) {
			return binary.AppendVarint(append(b, kInt), v.Int()), nil
		}
		p.dec = func(d *decoder, v reflect.Value) {
			n, ok := d.int(t)
			if ok && v.OverflowInt(n) {
				d.fail("%d overflows %s", n, t)
				return
			}
			v.SetInt(n)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		p.enc = func(b []byte, v reflect.Value, _ int) ([]byte, error) {
			return binary.AppendUvarint(append(b, kUint), v.Uint()), nil
		}
		p.dec = func(d *decoder, v reflect.Value) {
			n, ok := d.uint(t)
			if ok && v.OverflowUint(n) {
				d.fail("%d overflows %s", n, t)
				return
			}
			v.SetUint(n)
		}
	case reflect.Float32, reflect.Float64:
		p.enc = func(b []byte, v reflect.Value, _ int) ([]byte, error) {
			return binary.LittleEndian.AppendUint64(append(b, kFloat), math.Float64bits(v.Float())), nil
		}
		p.dec = func(d *decoder, v reflect.Value) {
			if k := d.kind(); k != kFloat {
				d.mismatch(k, t)
				return
			}
			v.SetFloat(d.float())
		}
	case reflect.String:
		p.enc = func(b []byte, v reflect.Value, _ int) ([]byte, error) {
			s := v.String()
			return append(binary.AppendUvarint(append(b, kString), uint64(len(s))), s...), nil
		}
		p.dec = func(d *decoder, v reflect.Value) {
			if k := d.kind(); k != kString {
				d.mismatch(k, t)
				return
			}
			v.SetString(string(d.raw()))
		}
	case reflect.Slice:
		if err := compileSlice(p, building); err != nil {
			return nil, err
		}
	case reflect.Array:
		if err := compileArray(p, building); err != nil {
			return nil, err
		}
	case reflect.Map:
		if err := compileMap(p, building); err != nil {
			return nil, err
		}
	case reflect.Struct:
		if t == timeType {
			compileTime(p)
			break
		}
		if err := compileStruct(p, building); err != nil {
			return nil, err
		}
	case reflect.Pointer:
		elem, err := compile(t.Elem(), building)
		if err != nil {
			return nil, err
		}
		p.enc = func(b []byte, v reflect.Value, depth int) ([]byte, error) {
			if v.IsNil() {
				return append(b, kNil), nil
			}
			if depth >= maxDepth {
				return nil, errDepth
			}
			return elem.enc(b, v.Elem(), depth+1)
		}
		p.dec = func(d *decoder, v reflect.Value) {
			if d.peek() == kNil {
				d.b = d.b[1:]
				v.SetZero()
				return
			}
			if !d.enter() {
				return
			}
			defer d.leave()
			if v.IsNil() {
				v.Set(reflect.New(t.Elem()))
			}
			elem.dec(d, v.Elem())
		}
	case reflect.Interface:
		if t.NumMethod() != 0 {
			return nil, fmt.Errorf("codec: cannot encode %s: an interface with methods", t)
		}
		p.enc = func(b []byte, v reflect.Value, depth int) ([]byte, error) {
			if v.IsNil() {
				return append(b, kNil), nil
			}
			e, err := planOf(v.Elem().Type())
			if err != nil {
				return nil, err
			}
			return e.enc(b, v.Elem(), depth) // not a level: what it holds is
		}
		p.dec = func(d *decoder, v reflect.Value) {
			if x := d.anyValue(); d.err == nil {
				if x == nil {
					v.SetZero()
				} else {
					v.Set(reflect.ValueOf(x))
				}
			}
		}
	default:
		return nil, fmt.Errorf("codec: cannot encode %s", t)
	}
	return p, nil
}

var errDepth = fmt.Errorf("codec: a value nested more than %d levels", maxDepth)

func compileSlice(p *plan, building map[reflect.Type]*plan) error {
	t := p.t
	switch t.Elem().Kind() {
	case reflect.Uint8:
		p.enc = func(b []byte, v reflect.Value, _ int) ([]byte, error) {
			if v.IsNil() {
				return append(b, kNil), nil
			}
			return append(binary.AppendUvarint(append(b, kBytes), uint64(v.Len())), v.Bytes()...), nil
		}
		p.dec = func(d *decoder, v reflect.Value) {
			switch k := d.kind(); k {
			case kNil:
				v.SetZero()
			case kBytes:
				v.SetBytes(append([]byte{}, d.raw()...)) // a copy, never nil
			default:
				d.mismatch(k, t)
			}
		}
		return nil
	case reflect.Float64:
		p.enc = func(b []byte, v reflect.Value, _ int) ([]byte, error) {
			if v.IsNil() {
				return append(b, kNil), nil
			}
			return appendVector(append(b, kFloats), unsafe.Slice((*float64)(v.UnsafePointer()), v.Len())), nil
		}
		p.dec = func(d *decoder, v reflect.Value) {
			switch k := d.kind(); k {
			case kNil:
				v.SetZero()
			case kFloats:
				f := d.vector()
				*(*[]float64)(v.Addr().UnsafePointer()) = f
			default:
				d.mismatch(k, t)
			}
		}
		return nil
	}
	elem, err := compile(t.Elem(), building)
	if err != nil {
		return err
	}
	p.enc = func(b []byte, v reflect.Value, depth int) ([]byte, error) {
		if v.IsNil() {
			return append(b, kNil), nil
		}
		return encList(b, v, elem, depth)
	}
	p.dec = func(d *decoder, v reflect.Value) {
		switch k := d.kind(); k {
		case kNil:
			v.SetZero()
		case kList:
			n := d.count(1)
			if !d.enter() {
				return
			}
			defer d.leave()
			s := reflect.MakeSlice(t, n, n)
			for i := 0; i < n && d.err == nil; i++ {
				elem.dec(d, s.Index(i))
			}
			v.Set(s)
		default:
			d.mismatch(k, t)
		}
	}
	return nil
}

func encList(b []byte, v reflect.Value, elem *plan, depth int) ([]byte, error) {
	if depth >= maxDepth {
		return nil, errDepth
	}
	n := v.Len()
	b = binary.AppendUvarint(append(b, kList), uint64(n))
	var err error
	for i := 0; i < n && err == nil; i++ {
		b, err = elem.enc(b, v.Index(i), depth+1)
	}
	return b, err
}

func compileArray(p *plan, building map[reflect.Type]*plan) error {
	t := p.t
	elem, err := compile(t.Elem(), building)
	if err != nil {
		return err
	}
	p.enc = func(b []byte, v reflect.Value, depth int) ([]byte, error) { return encList(b, v, elem, depth) }
	p.dec = func(d *decoder, v reflect.Value) {
		if k := d.kind(); k != kList {
			d.mismatch(k, t)
			return
		}
		n := d.count(1)
		if n > t.Len() && d.err == nil {
			d.fail("a list of %d into %s", n, t)
			return
		}
		if !d.enter() {
			return
		}
		defer d.leave()
		v.SetZero()
		for i := 0; i < n && d.err == nil; i++ {
			elem.dec(d, v.Index(i))
		}
	}
	return nil
}

func compileMap(p *plan, building map[reflect.Type]*plan) error {
	t := p.t
	key, err := compile(t.Key(), building)
	if err != nil {
		return err
	}
	elem, err := compile(t.Elem(), building)
	if err != nil {
		return err
	}
	p.enc = func(b []byte, v reflect.Value, depth int) ([]byte, error) {
		if v.IsNil() {
			return append(b, kNil), nil
		}
		if depth >= maxDepth {
			return nil, errDepth
		}
		b = binary.AppendUvarint(append(b, kMap), uint64(v.Len()))
		var err error
		for it := v.MapRange(); it.Next() && err == nil; {
			if b, err = key.enc(b, it.Key(), depth+1); err == nil {
				b, err = elem.enc(b, it.Value(), depth+1)
			}
		}
		return b, err
	}
	p.dec = func(d *decoder, v reflect.Value) {
		switch k := d.kind(); k {
		case kNil:
			v.SetZero()
		case kMap:
			n := d.count(2)
			if !d.enter() {
				return
			}
			defer d.leave()
			m := reflect.MakeMapWithSize(t, n)
			kv, ev := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
			for i := 0; i < n && d.err == nil; i++ {
				kv.SetZero()
				ev.SetZero()
				key.dec(d, kv)
				elem.dec(d, ev)
				if d.err == nil {
					m.SetMapIndex(kv, ev)
				}
			}
			v.Set(m)
		default:
			d.mismatch(k, t)
		}
	}
	return nil
}

func compileTime(p *plan) {
	p.enc = func(b []byte, v reflect.Value, _ int) ([]byte, error) {
		t := v.Interface().(time.Time)
		var buf [16]byte
		tb, err := t.AppendBinary(buf[:0])
		if err != nil {
			return nil, fmt.Errorf("codec: %w", err)
		}
		return append(binary.AppendUvarint(append(b, kTime), uint64(len(tb))), tb...), nil
	}
	p.dec = func(d *decoder, v reflect.Value) {
		if k := d.kind(); k != kTime {
			d.mismatch(k, timeType)
			return
		}
		if t, ok := d.time(); ok {
			v.Set(reflect.ValueOf(t))
		}
	}
}

// field is a struct field on the wire.
type field struct {
	name  string
	index int
	plan  *plan
}

func compileStruct(p *plan, building map[reflect.Type]*plan) error {
	t := p.t
	var fields []field
	byName := map[string]int{} // position in fields
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name := sf.Name
		if tag, ok := sf.Tag.Lookup("codec"); ok {
			if tag == "-" {
				continue
			}
			if tag != "" {
				name = tag
			}
		}
		if _, dup := byName[name]; dup {
			return fmt.Errorf("codec: %s has two fields named %q", t, name)
		}
		fp, err := compile(sf.Type, building)
		if err != nil {
			return fmt.Errorf("%w (field %s.%s)", err, t, sf.Name)
		}
		byName[name] = len(fields)
		fields = append(fields, field{name: name, index: i, plan: fp})
	}
	p.enc = func(b []byte, v reflect.Value, depth int) ([]byte, error) {
		if depth >= maxDepth {
			return nil, errDepth
		}
		b = binary.AppendUvarint(append(b, kStruct), uint64(len(fields)))
		var err error
		for _, f := range fields {
			b = append(binary.AppendUvarint(b, uint64(len(f.name))), f.name...)
			if b, err = f.plan.enc(b, v.Field(f.index), depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	p.dec = func(d *decoder, v reflect.Value) {
		if k := d.kind(); k != kStruct {
			d.mismatch(k, t)
			return
		}
		n := d.count(2)
		if !d.enter() {
			return
		}
		defer d.leave()
		for i := 0; i < n && d.err == nil; i++ {
			name := d.raw()
			j := i // fields usually come in the order they are declared
			if j >= len(fields) || fields[j].name != string(name) {
				var ok bool
				if j, ok = byName[string(name)]; !ok {
					d.skip()
					continue
				}
			}
			f := fields[j]
			f.plan.dec(d, v.Field(f.index))
			if d.err != nil && d.field == "" {
				d.field = t.String() + "." + f.name
			}
		}
	}
	return nil
}

// decoder reads a Compact encoding. Its first failure stops it.
type decoder struct {
	b     []byte
	err   error
	field string // where the first failure was, if in a struct field
	depth int
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = &decodeError{msg: fmt.Sprintf(format, args...)}
	}
	d.b = nil
}

// decodeError is a decoding failure, with the field it happened in.
type decodeError struct {
	msg, field string
}

func (e *decodeError) Error() string {
	if e.field != "" {
		return "codec: field " + e.field + ": " + e.msg
	}
	return "codec: " + e.msg
}

func (d *decoder) mismatch(k byte, t reflect.Type) {
	if d.err == nil {
		d.fail("cannot decode %s into %s", kindName(k), t)
	}
}

func (d *decoder) enter() bool {
	if d.depth++; d.depth > maxDepth {
		d.fail("nested more than %d levels", maxDepth)
		return false
	}
	return d.err == nil
}

func (d *decoder) leave() { d.depth-- }

func (d *decoder) peek() byte {
	if len(d.b) == 0 {
		return kinds // not a kind: the caller reads it and fails
	}
	return d.b[0]
}

func (d *decoder) kind() byte {
	if len(d.b) == 0 {
		d.fail("the bytes end before a value")
		return kinds
	}
	k := d.b[0]
	d.b = d.b[1:]
	return k
}

func (d *decoder) uvarint() uint64 {
	n, size := binary.Uvarint(d.b)
	if size <= 0 {
		d.fail("a bad varint")
		return 0
	}
	d.b = d.b[size:]
	return n
}

// count reads a count of items of at least min bytes each: never more
// than the bytes left can hold.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.fail("a count of %d, more than the %d bytes left can hold", n, len(d.b))
		return 0
	}
	return int(n)
}

// raw reads a length and that many bytes, which it returns without a copy.
func (d *decoder) raw() []byte {
	n := d.count(1)
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) float() float64 {
	if len(d.b) < 8 {
		d.fail("a short float")
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return f
}

func (d *decoder) vector() []float64 {
	n := d.count(8)
	if d.err != nil {
		return nil
	}
	f := make([]float64, n)
	if littleEndian {
		copy(floatBytes(f), d.b)
	} else {
		for i := range f {
			f[i] = math.Float64frombits(binary.LittleEndian.Uint64(d.b[8*i:]))
		}
	}
	d.b = d.b[8*n:]
	return f
}

func (d *decoder) varint() int64 {
	n, size := binary.Varint(d.b)
	if size <= 0 {
		d.fail("a bad varint")
		return 0
	}
	d.b = d.b[size:]
	return n
}

func (d *decoder) int(t reflect.Type) (int64, bool) {
	switch k := d.kind(); k {
	case kInt:
		n := d.varint()
		return n, d.err == nil
	case kUint:
		n := d.uvarint()
		if n > math.MaxInt64 {
			d.fail("%d overflows %s", n, t)
			return 0, false
		}
		return int64(n), d.err == nil
	default:
		d.mismatch(k, t)
		return 0, false
	}
}

func (d *decoder) uint(t reflect.Type) (uint64, bool) {
	switch k := d.kind(); k {
	case kUint:
		n := d.uvarint()
		return n, d.err == nil
	case kInt:
		n := d.varint()
		if n < 0 && d.err == nil {
			d.fail("%d into %s", n, t)
		}
		return uint64(n), d.err == nil
	default:
		d.mismatch(k, t)
		return 0, false
	}
}

func (d *decoder) time() (time.Time, bool) {
	var t time.Time
	if err := t.UnmarshalBinary(d.raw()); err != nil && d.err == nil {
		d.fail("a bad time: %v", err)
	}
	return t, d.err == nil
}

// anyValue decodes a value of any kind as an interface's dynamic value.
func (d *decoder) anyValue() any {
	switch k := d.kind(); k {
	case kNil:
		return nil
	case kFalse, kTrue:
		return k == kTrue
	case kInt:
		return d.varint()
	case kUint:
		return d.uvarint()
	case kFloat:
		return d.float()
	case kString:
		return string(d.raw())
	case kBytes:
		return append([]byte{}, d.raw()...)
	case kFloats:
		return d.vector()
	case kTime:
		t, _ := d.time()
		return t
	case kList:
		n := d.count(1)
		if !d.enter() {
			return nil
		}
		defer d.leave()
		l := make([]any, n)
		for i := 0; i < n && d.err == nil; i++ {
			l[i] = d.anyValue()
		}
		return l
	case kMap, kStruct:
		n := d.count(2)
		if !d.enter() {
			return nil
		}
		defer d.leave()
		m := make(map[string]any, n)
		for i := 0; i < n && d.err == nil; i++ {
			var key string
			if k == kStruct {
				key = string(d.raw())
			} else if kk := d.kind(); kk != kString {
				d.fail("a map with %s keys into an interface (string keys only)", kindName(kk))
				return nil
			} else {
				key = string(d.raw())
			}
			m[key] = d.anyValue()
		}
		return m
	default:
		d.fail("unknown kind %d", k)
	}
	return nil
}

// skip reads past a value of a field the Go type does not have.
func (d *decoder) skip() {
	_ = d.anyValue()
}

// littleEndian is set on machines that keep floats as the wire does, so
// that a vector is copied whole.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// floatBytes is f's memory.
func floatBytes(f []float64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), 8*len(f))
}

func appendVector(b []byte, f []float64) []byte {
	b = binary.AppendUvarint(b, uint64(len(f)))
	if littleEndian {
		return append(b, floatBytes(f)...)
	}
	b = slices.Grow(b, 8*len(f))
	for _, x := range f {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}
