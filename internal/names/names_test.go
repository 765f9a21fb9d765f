package names

import (
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	tests := []struct {
		name          string
		s             string
		id, typ, host bool
	}{
		{"uuid", "6c1a5470-f1d8-452a-8faf-31814519cf27", true, true, true},
		{"word", "w_1", true, true, true},
		{"empty", "", false, false, false},
		{"dot", "a.b", false, false, true},
		{"ipv6", "::1", false, false, true},
		{"space and wildcards", "a b.c*", false, false, false},
		{"gt", ">", false, false, false},
		{"quote", `x"`, false, false, false},
		{"invalid UTF-8", "\xff", false, false, false},
		{"non-ASCII letter", "é", false, false, false},
		{"65 bytes", strings.Repeat("a", 65), true, false, true},
		{"129 bytes", strings.Repeat("a", 129), false, false, true},
		{"254 bytes", strings.Repeat("a", 254), false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidID(tt.s); got != tt.id {
				t.Errorf("ValidID = %v, want %v", got, tt.id)
			}
			if got := ValidType(tt.s); got != tt.typ {
				t.Errorf("ValidType = %v, want %v", got, tt.typ)
			}
			if got := ValidHost(tt.s); got != tt.host {
				t.Errorf("ValidHost = %v, want %v", got, tt.host)
			}
		})
	}
	if err := ID("-id", "a b.c*"); err == nil || err.Error() != `-id "a b.c*": use letters, digits, '-' and '_', at most 128` {
		t.Fatalf("ID = %v", err)
	}
	if err := Type("type", "x.y"); err == nil || err.Error() != `type "x.y": use letters, digits, '-' and '_', at most 64` {
		t.Fatalf("Type = %v", err)
	}
}
