package records

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// bigGroup is a directory with one account-based group of n members whose
// first member manages it with every permission, plus n strangers.
func bigGroup(n int) (*People, *Person, []directory.User) {
	var users []directory.User
	g := directory.Group{Name: "big", Mode: directory.ModeAccountBased}
	for i := range 2 * n {
		u := directory.User{ID: fmt.Sprintf("id%05d", i), Username: fmt.Sprintf("user%05d", i)}
		users = append(users, u)
		if i < n {
			m := directory.GroupMember{UserID: u.ID, Username: u.Username}
			if i == 0 {
				m.Perms = directory.GroupPerms
			}
			g.Members = append(g.Members, m)
		}
	}
	p := NewPeople(users, []directory.Group{g})
	return p, p.Resolve("id00000"), users
}

func BenchmarkDecide(b *testing.B) {
	ps := defaultSet(b)
	p, mgr, _ := bigGroup(1000)
	r := &Record{Type: "lead", Owner: "id00500", Account: &Record{Owner: "id01500"}, OpportunityOwners: []string{"id01600"}}
	b.ReportAllocs()
	for b.Loop() {
		if d, err := ps.Decide(p, mgr, "update", r); err != nil || !d.Allow {
			b.Fatal(d, err)
		}
	}
}

func BenchmarkDecideBatch1000(b *testing.B) {
	ps := defaultSet(b)
	p, mgr, users := bigGroup(1000)
	rng := rand.New(rand.NewPCG(1, 2))
	checks := make([]Check, 1000)
	for i := range checks {
		checks[i] = RandomCheck(rng, users)
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range checks {
			if _, err := ps.Decide(p, mgr, checks[i].Action, &checks[i].Resource); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkScopeManager1000(b *testing.B) {
	ps := defaultSet(b)
	p, mgr, _ := bigGroup(1000)
	b.ReportAllocs()
	for b.Loop() {
		s, err := ps.Scope(p, mgr, "view", "lead")
		if err != nil || len(s.Fields["owner"]) != 1000 {
			b.Fatal(len(s.Fields["owner"]), err)
		}
	}
}
