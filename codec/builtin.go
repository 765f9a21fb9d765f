package codec

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/fxamacker/cbor/v2"
)

// CBOR is the default codec (github.com/fxamacker/cbor/v2): times as
// RFC 3339 text with nanoseconds, so they come back exactly. It checks that
// the bytes are well formed, every length within them, before it decodes,
// nests at most 32 levels, and takes no duplicate map keys.
var CBOR Codec = cborCodec{}

// JSON is encoding/json, for interop with programs in other languages.
var JSON Codec = jsonCodec{}

var (
	cborEnc cbor.EncMode
	cborDec cbor.DecMode
)

func init() {
	var err error
	if cborEnc, err = (cbor.EncOptions{Time: cbor.TimeRFC3339Nano}).EncMode(); err != nil {
		panic(err)
	}
	// A count the bytes cannot hold is refused before anything is allocated,
	// so the element and pair limits need not be low.
	if cborDec, err = (cbor.DecOptions{
		MaxNestedLevels:  32,
		MaxArrayElements: math.MaxInt32,
		MaxMapPairs:      math.MaxInt32,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
	}).DecMode(); err != nil {
		panic(err)
	}
}

type cborCodec struct{}

func (cborCodec) Name() string { return "cbor" }

func (cborCodec) Marshal(v any) ([]byte, error) {
	if f, ok := v.([]float64); ok && f != nil {
		return appendFloats(nil, f), nil
	}
	return cborEnc.Marshal(v)
}

func (cborCodec) Unmarshal(data []byte, v any) error {
	if p, ok := v.(*[]float64); ok && len(data) > 2 && data[0] == 0xd8 && data[1] == tagFloat64LE {
		return decodeFloats(data, p)
	}
	return cborDec.Unmarshal(data, v)
}

// A []float64 value, a vector, is a typed array (RFC 8746): tag 86 on a
// byte string of the floats little-endian, 8 bytes each, copied rather
// than encoded one by one. The CBOR decoder reads it too, as a cbor.Tag.
const tagFloat64LE = 86

func appendFloats(b []byte, f []float64) []byte {
	b = append(b, 0xd8, tagFloat64LE)
	n := uint64(len(f)) * 8
	switch { // the byte string's head: major type 2, length n, shortest form
	case n < 24:
		b = append(b, 0x40|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0x58, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0x59), uint16(n))
	case n <= math.MaxUint32:
		b = binary.BigEndian.AppendUint32(append(b, 0x5a), uint32(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 0x5b), n)
	}
	b = slices.Grow(b, int(n))
	for _, x := range f {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

func decodeFloats(data []byte, p *[]float64) error {
	var raw []byte // the byte string, checked by the CBOR decoder
	if err := cborDec.Unmarshal(data[2:], &raw); err != nil {
		return err
	}
	if len(raw)%8 != 0 {
		return fmt.Errorf("cbor: a float64 typed array of %d bytes, not a multiple of 8", len(raw))
	}
	f := make([]float64, len(raw)/8)
	for i := range f {
		f[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
	}
	*p = f
	return nil
}

type jsonCodec struct{}

func (jsonCodec) Name() string                       { return "json" }
func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
