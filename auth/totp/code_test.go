package totp

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// vectors mirrors testdata/rfc6238_vectors.json (see testdata/SOURCE.md).
type vectors struct {
	Seeds map[string]struct {
		Hex    string `json:"hex"`
		Base32 string `json:"base32_no_padding"`
	} `json:"seeds"`
	TOTP []struct {
		UnixTime  int64  `json:"unix_time"`
		THex      string `json:"T_hex"`
		Algorithm string `json:"algorithm"`
		Digits    int    `json:"digits"`
		TOTP      string `json:"totp"`
		TOTP6     string `json:"totp_6_digits"`
	} `json:"totp_vectors"`
	HOTP struct {
		SecretASCII string   `json:"secret_ascii"`
		Algorithm   string   `json:"algorithm"`
		Digits      int      `json:"digits"`
		Codes       []string `json:"codes_by_counter"`
	} `json:"hotp_rfc4226_appendix_d"`
	Boundary []struct {
		UnixTime   int64  `json:"unix_time"`
		Code       string `json:"code"`
		ValidSkew1 bool   `json:"valid_with_skew_1"`
	} `json:"boundary_checks_sha1_8_digits"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/rfc6238_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("parse vectors: %v", err)
	}
	if len(v.TOTP) < 18 || len(v.HOTP.Codes) != 10 {
		t.Fatalf("vectors file holds %d TOTP and %d HOTP vectors, want 18 and 10", len(v.TOTP), len(v.HOTP.Codes))
	}
	return v
}

func (v vectors) seed(t *testing.T, alg string) []byte {
	t.Helper()
	b, err := hex.DecodeString(v.Seeds[alg].Hex)
	if err != nil || len(b) == 0 {
		t.Fatalf("seed %s: %v", alg, err)
	}
	return b
}

// TestRFC6238AppendixB runs every Appendix B row, including the times
// past 2038 (2000000000) and 2603 (20000000000), through Step and Code.
func TestRFC6238AppendixB(t *testing.T) {
	v := loadVectors(t)
	for _, tv := range v.TOTP {
		t.Run(fmt.Sprintf("%s/%d", tv.Algorithm, tv.UnixTime), func(t *testing.T) {
			step := Step(time.Unix(tv.UnixTime, 0))
			if want, _ := strconv.ParseUint(tv.THex, 16, 64); step != want {
				t.Fatalf("Step = %x, want %s", step, tv.THex)
			}
			seed := v.seed(t, tv.Algorithm)
			if got := Code(seed, step, tv.Digits, tv.Algorithm); got != tv.TOTP {
				t.Errorf("Code(%d digits) = %s, want %s", tv.Digits, got, tv.TOTP)
			}
			if got := Code(seed, step, 6, tv.Algorithm); got != tv.TOTP6 {
				t.Errorf("Code(6 digits) = %s, want %s", got, tv.TOTP6)
			}
		})
	}
}

func TestRFC4226AppendixD(t *testing.T) {
	v := loadVectors(t)
	for counter, want := range v.HOTP.Codes {
		if got := Code([]byte(v.HOTP.SecretASCII), uint64(counter), v.HOTP.Digits, v.HOTP.Algorithm); got != want {
			t.Errorf("counter %d: Code = %s, want %s", counter, got, want)
		}
	}
}

// TestCodeAgreesWithPquerna cross-checks Code against the library the
// enrolment URI comes from, over many counters and all three hashes.
func TestCodeAgreesWithPquerna(t *testing.T) {
	v := loadVectors(t)
	algs := map[string]otp.Algorithm{"SHA1": otp.AlgorithmSHA1, "SHA256": otp.AlgorithmSHA256, "SHA512": otp.AlgorithmSHA512}
	for name, alg := range algs {
		seed := v.seed(t, name)
		for _, counter := range []uint64{0, 1, 2, 1 << 20, 1<<32 + 7, 1<<63 - 1, 1<<64 - 1} {
			want, err := hotp.GenerateCodeCustom(v.Seeds[name].Base32, counter, hotp.ValidateOpts{Digits: otp.DigitsEight, Algorithm: alg})
			if err != nil {
				t.Fatal(err)
			}
			if got := Code(seed, counter, 8, name); got != want {
				t.Errorf("%s counter %d: Code = %s, pquerna = %s", name, counter, got, want)
			}
		}
	}
}

func TestCodeRefusesBadParameters(t *testing.T) {
	seed := []byte("12345678901234567890")
	for _, tc := range []struct {
		digits int
		alg    string
	}{{6, "MD5"}, {6, "sha1"}, {6, ""}, {0, "SHA1"}, {11, "SHA1"}, {-1, "SHA1"}} {
		if got := Code(seed, 1, tc.digits, tc.alg); got != "" {
			t.Errorf("Code(digits %d, %q) = %q, want empty", tc.digits, tc.alg, got)
		}
	}
	if got := Code(seed, 1, 10, "SHA1"); len(got) != 10 {
		t.Errorf("Code(10 digits) = %q, want 10 digits", got)
	}
}

// TestBoundarySteps checks the window edges from the vectors file with the
// 8-digit SHA1 code: ±1 step accepted, 2 steps refused.
func TestBoundarySteps(t *testing.T) {
	v := loadVectors(t)
	seed := v.seed(t, "SHA1")
	for _, b := range v.Boundary {
		c := Step(time.Unix(b.UnixTime, 0))
		got := false
		for d := -1; d <= 1; d++ {
			if int64(c)+int64(d) >= 0 && Code(seed, uint64(int64(c)+int64(d)), 8, "SHA1") == b.Code {
				got = true
			}
		}
		if got != b.ValidSkew1 {
			t.Errorf("t=%d: in window = %v, want %v", b.UnixTime, got, b.ValidSkew1)
		}
	}
}

func TestStepBeforeEpoch(t *testing.T) {
	if got := Step(time.Unix(-100, 0)); got != 0 {
		t.Errorf("Step(before epoch) = %d, want 0", got)
	}
}
