package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pgfeed/pgfeed/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// repoRoot is the module root: go test runs in the package directory.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatalf("getwd: %v", err)
	}
	return filepath.Dir(wd)
}

// pgfeedBin builds cmd/pgfeed once per test run (with -race when the tests
// run with it) into bin/ and returns its path.
func pgfeedBin(tb testing.TB) string {
	tb.Helper()
	root := repoRoot(tb)
	buildOnce.Do(func() {
		name, args := "pgfeed-e2e", []string{"build"}
		if raceEnabled {
			name += "-race"
			args = append(args, "-race")
		}
		binPath = filepath.Join(root, "bin", name)
		cmd := exec.Command("go", append(args, "-o", binPath, "./cmd/pgfeed")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		tb.Fatalf("build pgfeed: %v\n%s", buildErr, binPath)
	}
	return binPath
}
