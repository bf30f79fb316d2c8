package access

import (
	"sync"
	"sync/atomic"
)

// Live is the table in force: the pipeline reads it on every request
// without a lock, and the directory watcher recompiles it when the login
// policy's access section or the template set changes.
type Live struct {
	t atomic.Pointer[Table]

	mu  sync.Mutex
	cfg *Config
	set *TemplateSet
}

// Table returns the table in force; nil until both the policy and the
// templates have been seen (the gateway refuses until then: fail closed).
func (l *Live) Table() *Table { return l.t.Load() }

// SetConfig installs a new access section.
func (l *Live) SetConfig(c Config) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg = &c
	return l.compile()
}

// SetTemplates installs a new template set.
func (l *Live) SetTemplates(s TemplateSet) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.set = &s
	return l.compile()
}

func (l *Live) compile() error {
	if l.cfg == nil || l.set == nil {
		return nil
	}
	t, err := Compile(*l.cfg, *l.set)
	if err != nil {
		return err // the table in force stays
	}
	l.t.Store(t)
	return nil
}
