// Package directorytest is the conformance suite every directory backend
// runs (RunTests), plus helpers that give tests a throw-away database:
// PostgresDSN against a real server and SQLitePath in a temporary
// directory.
package directorytest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// RunTests runs the conformance suite. open is called once per subtest,
// possibly from parallel subtests; it must return an empty directory and
// register its own cleanup (t.Cleanup) to close it.
func RunTests(t *testing.T, open func(t *testing.T) directory.Directory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, d directory.Directory)
	}{
		{"CreateUser", testCreateUser},
		{"UserIDsUnique", testUserIDsUnique},
		{"NotFound", testNotFound},
		{"Conflict", testConflict},
		{"ConcurrentCreateSameUsername", testConcurrentCreate},
		{"UpdateUser", testUpdateUser},
		{"DeleteUser", testDeleteUser},
		{"ListUsers", testListUsers},
		{"DisabledUserIDs", testDisabledUserIDs},
		{"UserAllowlists", testUserAllowlists},
		{"PasswordExpiry", testPasswordExpiry},
		{"Revocations", testRevocations},
		{"Identities", testIdentities},
		{"Policy", testPolicy},
		{"PolicyConcurrentPut", testPolicyConcurrentPut},
		{"PolicyHistory", testPolicyHistory},
		{"PolicySeedRace", testPolicySeedRace},
		{"Documents", testDocuments},
		{"DocumentsConcurrentPut", testDocumentsConcurrentPut},
		{"Groups", testGroups},
		{"GroupsFromUser", testGroupsFromUser},
		{"GroupsConcurrentMembers", testGroupsConcurrentMembers},
		{"APIKeys", testAPIKeys},
		{"Devices", testDevices},
		{"DevicesConcurrentRevoke", testDevicesConcurrentRevoke},
		{"Outbox", testOutbox},
		{"OutboxOrder", testOutboxOrder},
		{"OutboxConcurrentClaim", testOutboxConcurrentClaim},
		{"OutboxList", testOutboxList},
		{"OutboxRequeue", testOutboxRequeue},
		{"OutboxErase", testOutboxErase},
		{"Audit", testAudit},
		{"AuditLimit", testAuditLimit},
		{"AuditQuery", testAuditQuery},
		{"AuditQueryPaging", testAuditQueryPaging},
		{"AuditQueryLimit", testAuditQueryLimit},
		{"AuditErase", testAuditErase},
		{"SigningKeys", testSigningKeys},
		{"FirstSigningKeyRace", testFirstSigningKeyRace},
		{"FirstKeyPerAlgorithm", testFirstKeyPerAlgorithm},
		{"UpdateSigningKey", testUpdateSigningKey},
		{"SecurityStamp", testSecurityStamp},
		{"SetOwnPassword", testSetOwnPassword},
		{"SetOwnPasswordRace", testSetOwnPasswordRace},
		{"MFAEnroll", testMFAEnroll},
		{"MFANotFound", testMFANotFound},
		{"MFARemove", testMFARemove},
		{"ConcurrentEnroll", testConcurrentEnroll},
		{"EnrollFirst", testEnrollFirst},
		{"ConcurrentEnrollFirst", testConcurrentEnrollFirst},
		{"RecoveryCodeOnce", testRecoveryCodeOnce},
		{"RecoveryCodeRace", testRecoveryCodeRace},
		{"ReplaceRecoveryCodes", testReplaceRecoveryCodes},
		{"UpdateTOTPSecret", testUpdateTOTPSecret},
		{"OTPFactors", testOTPFactors},
		{"ConcurrentFirstFactor", testConcurrentFirstFactor},
		{"AddAndRemoveFactors", testAddAndRemoveFactors},
		{"Passkeys", testPasskeys},
		{"Ping", testPing},
		{"CanceledContext", testCanceledContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// wantErr fails unless err is the sentinel want, and never also
// ErrUnavailable, which would make a caller treat a miss as an outage.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
	if want != directory.ErrUnavailable && errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("%s: got %v, which also matches ErrUnavailable", what, err)
	}
}

// wantUTC checks a returned time: set, in UTC, and whole milliseconds.
func wantUTC(t *testing.T, what string, at time.Time) {
	t.Helper()
	switch {
	case at.IsZero():
		t.Errorf("%s: got zero time", what)
	case at.Location() != time.UTC:
		t.Errorf("%s: got location %v, want UTC", what, at.Location())
	case !at.Equal(at.Truncate(time.Millisecond)):
		t.Errorf("%s: got %v, want millisecond precision", what, at)
	}
}

// sameUser compares every field; nil and empty lists are equal.
func sameUser(t *testing.T, got, want *directory.User) {
	t.Helper()
	diffs := []struct {
		field string
		ok    bool
	}{
		{"ID", got.ID == want.ID},
		{"Username", got.Username == want.Username},
		{"Email", got.Email == want.Email},
		{"DisplayName", got.DisplayName == want.DisplayName},
		{"PasswordHash", got.PasswordHash == want.PasswordHash},
		{"Role", got.Role == want.Role},
		{"Template", got.Template == want.Template},
		{"Groups", slices.Equal(got.Groups, want.Groups)},
		{"Disabled", got.Disabled == want.Disabled},
		{"Require2FA", got.Require2FA == want.Require2FA},
		{"AllowList", slices.Equal(got.AllowList, want.AllowList)},
		{"SecurityStamp", got.SecurityStamp == want.SecurityStamp},
		{"MustChangePassword", got.MustChangePassword == want.MustChangePassword},
		{"CreatedAt", got.CreatedAt.Equal(want.CreatedAt)},
		{"UpdatedAt", got.UpdatedAt.Equal(want.UpdatedAt)},
	}
	for _, d := range diffs {
		if !d.ok {
			t.Errorf("user %s: got %+v, want %+v", d.field, *got, *want)
		}
	}
}

// runConcurrently calls fn(i) for i in [0,n) from n goroutines started
// together and returns their errors by i.
func runConcurrently(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func testPing(t *testing.T, d directory.Directory) {
	if err := d.Ping(t.Context()); err != nil {
		t.Errorf("Ping: got %v, want nil", err)
	}
}
