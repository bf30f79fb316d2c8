package sqldir

import (
	"encoding/json"
	"errors"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// A user's allowlist is stored in users.allowed_cidrs as a JSON array
// whose elements are a CIDR alone ("10.0.0.0/8", the only form before
// descriptions) or {"cidr": …, "description": …} when the entry has a
// description. Old rows need no migration, and a list without
// descriptions is stored exactly as before, which a replica of an older
// release still reads during a rolling upgrade.

// storedEntry is one element of allowed_cidrs.
type storedEntry struct {
	CIDR        string `json:"cidr"`
	Description string `json:"description,omitempty"`
}

// encodeAllowList stores nil and empty alike as "[]".
func encodeAllowList(l directory.AllowList) (string, error) {
	if len(l) == 0 {
		return "[]", nil
	}
	out := make([]any, len(l))
	for i, e := range l {
		if e.Description == "" {
			out[i] = e.CIDR
		} else {
			out[i] = storedEntry(e)
		}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// decodeAllowList reads both element forms; nil for an empty list.
func decodeAllowList(s string) (directory.AllowList, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, nil
	}
	out := make(directory.AllowList, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &out[i].CIDR); err == nil {
			continue
		}
		var e storedEntry
		if err := json.Unmarshal(r, &e); err != nil {
			return nil, errors.New("an allowlist entry is neither a CIDR nor {cidr, description}")
		}
		out[i] = directory.AllowEntry(e)
	}
	return out, nil
}
