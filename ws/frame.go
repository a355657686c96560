package ws

import (
	"encoding/binary"

	"github.com/gobwas/ws"
)

// WebSocket opcodes (RFC 6455 section 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

// frameHeader is a parsed client frame header.
type frameHeader struct {
	fin    bool
	rsv    byte
	op     byte
	masked bool
	length int64
	mask   [4]byte
	size   int // bytes the header took
}

// parseHeader parses the frame header at the start of b. ok is false when b
// does not hold a whole header yet.
func parseHeader(b []byte) (h frameHeader, ok bool) {
	if len(b) < 2 {
		return h, false
	}
	h.fin = b[0]&0x80 != 0
	h.rsv = (b[0] >> 4) & 0x7
	h.op = b[0] & 0x0f
	h.masked = b[1]&0x80 != 0
	n := 2
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < 4 {
			return h, false
		}
		h.length = int64(binary.BigEndian.Uint16(b[2:4]))
		n = 4
	case 127:
		if len(b) < 10 {
			return h, false
		}
		u := binary.BigEndian.Uint64(b[2:10])
		if u > 1<<62 {
			u = 1 << 62
		}
		h.length = int64(u)
		n = 10
	default:
		h.length = int64(l)
	}
	if h.masked {
		if len(b) < n+4 {
			return h, false
		}
		copy(h.mask[:], b[n:n+4])
		n += 4
	}
	h.size = n
	return h, true
}

// unmask applies the client's masking key to payload in place.
func unmask(payload []byte, mask [4]byte) { ws.Cipher(payload, mask, 0) }

// headerLen is the size of an unmasked server frame header for n payload bytes.
func headerLen(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xffff:
		return 4
	}
	return 10
}

// appendHeader appends an unmasked, final frame header for a payload of n
// bytes with opcode op.
func appendHeader(dst []byte, op byte, n int) []byte {
	b0 := 0x80 | op
	switch {
	case n <= 125:
		return append(dst, b0, byte(n))
	case n <= 0xffff:
		return append(dst, b0, 126, byte(n>>8), byte(n))
	}
	return append(dst, b0, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// closePayload is the body of a close frame: the code and a reason of at
// most 123 bytes.
func appendClosePayload(dst []byte, code int, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	dst = append(dst, byte(code>>8), byte(code))
	return append(dst, reason...)
}
