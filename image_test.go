package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hubprov/hubprov/manifest"
)

// koCommand is the image build documented in .ko.yaml and the README.
var koCommand = regexp.MustCompile(`KO_DOCKER_REPO=(\S+) ko build --bare --tags (\S+) \.`)

// koImage returns the image that .ko.yaml's documented command publishes:
// with --bare, KO_DOCKER_REPO itself, tagged.
func koImage(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(".ko.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := koCommand.FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatalf(".ko.yaml does not document its build command (%s)", koCommand)
	}
	readme, _ := os.ReadFile("README.md")
	if !strings.Contains(string(readme), m[0]) {
		t.Errorf("README does not show the image build of .ko.yaml: %s", m[0])
	}
	return m[1] + ":" + m[2]
}

// TestImageRecipe: .ko.yaml builds a static binary on a distroless nonroot
// base (with the CA bundle), and its settings give a binary without a dynamic
// loader or shared libraries. (Reported: nothing in the repository built the
// image the examples pull, and a plain go build was dynamically linked.)
func TestImageRecipe(t *testing.T) {
	raw, err := os.ReadFile(".ko.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ko struct {
		DefaultBaseImage string   `yaml:"defaultBaseImage"`
		DefaultPlatforms []string `yaml:"defaultPlatforms"`
		Builds           []struct {
			ID      string   `yaml:"id"`
			Main    string   `yaml:"main"`
			Env     []string `yaml:"env"`
			Flags   []string `yaml:"flags"`
			Ldflags []string `yaml:"ldflags"`
		} `yaml:"builds"`
	}
	if err := yaml.Unmarshal(raw, &ko); err != nil {
		t.Fatal(err)
	}
	// distroless/static: CA certificates, /etc/passwd with nonroot (65532), no libc, no shell.
	if !regexp.MustCompile(`^gcr\.io/distroless/static(-debian\d+)?:nonroot$`).MatchString(ko.DefaultBaseImage) {
		t.Errorf("defaultBaseImage %q: want gcr.io/distroless/static-debianN:nonroot", ko.DefaultBaseImage)
	}
	if len(ko.Builds) != 1 || ko.Builds[0].Main != "." || !contains(ko.Builds[0].Env, "CGO_ENABLED=0") {
		t.Fatalf("builds %+v: want one build of . with CGO_ENABLED=0", ko.Builds)
	}
	koImage(t)
	if runtime.GOOS != "linux" || testing.Short() {
		t.Skip("the static check builds a linux binary")
	}
	b := ko.Builds[0]
	bin := filepath.Join(t.TempDir(), "hubprov")
	args := append([]string{"build", "-o", bin}, b.Flags...)
	if len(b.Ldflags) > 0 {
		args = append(args, "-ldflags", strings.Join(b.Ldflags, " "))
	}
	cmd := exec.Command("go", append(args, b.Main)...)
	cmd.Env = append(os.Environ(), b.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the image's binary is dynamically linked (%v)", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the image's binary needs %v", libs)
	}
}

// TestKubernetesJobs holds the Kubernetes examples to what the image and
// hubprov's exit codes need: they pull the image .ko.yaml publishes; their
// podFailurePolicy retries an interrupted run (130, 143) without counting it
// and fails at once on 3 and 4; and a manifest they run that reads {file:}
// secrets outside its folder gets them from a Secret volume that
// --secrets-dir names, mounted read-only with mode 0440 and the pod's fsGroup.
func TestKubernetesJobs(t *testing.T) {
	image := koImage(t)
	files, _ := filepath.Glob("examples/kubernetes/*.yaml")
	fileSecrets := 0
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := decodeDocuments(raw)
		if err != nil {
			t.Fatal(err)
		}
		// The absolute {file:} secrets of the manifests the example runs.
		var absFiles []string
		for _, p := range exampleManifestRef.FindAllString(string(raw), -1) {
			if strings.HasPrefix(p, "examples/kubernetes/") {
				continue
			}
			m, _ := manifest.Load([]string{p})
			if m == nil {
				continue // TestOpsExamples reports it
			}
			for _, s := range m.Secrets() {
				if s.Source == manifest.SecretFile && filepath.IsAbs(s.Ref) && !contains(absFiles, s.Ref) {
					absFiles = append(absFiles, s.Ref)
				}
			}
		}
		for _, doc := range docs {
			spec := nodeAt(doc, "spec")
			if scalarAt(doc, "kind") == "CronJob" {
				spec = nodeAt(doc, "spec", "jobTemplate", "spec")
			} else if scalarAt(doc, "kind") != "Job" {
				continue
			}
			where := file + ":" + strconv.Itoa(spec.Line)
			checkFailurePolicy(t, where, nodeAt(spec, "podFailurePolicy", "rules"))
			pod := nodeAt(spec, "template", "spec")
			for _, ctr := range podContainers(pod) {
				argv := containerArgv(ctr)
				if !isHubprov(argv) {
					continue
				}
				if got := scalarAt(ctr, "image"); got != image {
					t.Errorf("%s: container %s pulls %q; .ko.yaml publishes %q", where, scalarAt(ctr, "name"), got, image)
				}
				if len(absFiles) == 0 {
					continue
				}
				fileSecrets++
				dir := argValues(argv[1:])["secrets-dir"]
				if dir == "" {
					t.Errorf("%s: the manifest reads %v but hubprov runs without --secrets-dir", where, absFiles)
					continue
				}
				for _, f := range absFiles {
					if !strings.HasPrefix(f, path.Clean(dir)+"/") {
						t.Errorf("%s: secret file %s is not under --secrets-dir %s", where, f, dir)
					}
				}
				checkSecretVolume(t, where, pod, ctr, path.Clean(dir))
			}
		}
	}
	if fileSecrets == 0 {
		t.Error("no Kubernetes example reads its secrets as files from a Secret volume")
	}
}

// checkFailurePolicy wants rules retrying 130 and 143 uncounted (Ignore) and
// failing on 3 and 4 (FailJob or FailIndex).
func checkFailurePolicy(t *testing.T, where string, rules *yaml.Node) {
	t.Helper()
	action := map[int]string{}
	if rules != nil {
		for _, r := range rules.Content {
			codes := nodeAt(r, "onExitCodes")
			if codes == nil || scalarAt(codes, "operator") != "In" {
				continue
			}
			for _, v := range nodeAt(codes, "values").Content {
				n, _ := strconv.Atoi(v.Value)
				if _, seen := action[n]; !seen { // the first matching rule wins
					action[n] = scalarAt(r, "action")
				}
			}
		}
	}
	for _, code := range []int{130, 143} {
		if action[code] != "Ignore" {
			t.Errorf("%s: podFailurePolicy: exit %d (interrupted; a rerun finishes the work) is %q, want Ignore", where, code, action[code])
		}
	}
	for _, code := range []int{3, 4} {
		if a := action[code]; a != "FailJob" && a != "FailIndex" {
			t.Errorf("%s: podFailurePolicy: exit %d (retrying cannot help) is %q, want FailJob or FailIndex", where, code, a)
		}
	}
}

// checkSecretVolume wants dir mounted read-only from a Secret (or a projected
// volume of Secrets) with mode 0440 or stricter, and an fsGroup for the pod:
// the files are root-owned and group-readable, which hubprov accepts.
func checkSecretVolume(t *testing.T, where string, pod, ctr *yaml.Node, dir string) {
	t.Helper()
	var vol string
	for _, m := range nodeAt(ctr, "volumeMounts").Content {
		if path.Clean(scalarAt(m, "mountPath")) == dir {
			vol = scalarAt(m, "name")
			if scalarAt(m, "readOnly") != "true" {
				t.Errorf("%s: %s is mounted writable", where, dir)
			}
		}
	}
	if vol == "" {
		t.Errorf("%s: --secrets-dir %s is not a volume mount", where, dir)
		return
	}
	if scalarAt(pod, "securityContext", "fsGroup") == "" {
		t.Errorf("%s: no fsGroup: the non-root user cannot read the Secret's root-owned files", where)
	}
	for _, v := range nodeAt(pod, "volumes").Content {
		if scalarAt(v, "name") != vol {
			continue
		}
		mode := scalarAt(v, "secret", "defaultMode")
		secret := nodeAt(v, "secret") != nil
		if p := nodeAt(v, "projected"); p != nil {
			mode = scalarAt(p, "defaultMode")
			secret = true
			for _, s := range nodeAt(p, "sources").Content {
				secret = secret && nodeAt(s, "secret") != nil
			}
		}
		m, err := strconv.ParseInt(mode, 0, 32)
		if !secret || err != nil || m&0o337 != 0 {
			t.Errorf("%s: volume %s: want Secrets with defaultMode 0440 or stricter (hubprov refuses secret files others can read), got secret=%v mode %q", where, vol, secret, mode)
		}
		return
	}
	t.Errorf("%s: volume %s not declared", where, vol)
}

// currentMajors are the action versions the example workflow uses: the
// current major of each. (Reported: the workflow's actions were 1-3 majors
// behind.) Update both together.
var currentMajors = map[string]string{
	"actions/checkout":             "v7",
	"actions/setup-go":             "v7",
	"actions/github-script":        "v9",
	"actions/upload-artifact":      "v7",
	"mikepenz/action-junit-report": "v6",
}

// TestWorkflowPlanSummary: the example workflow uses the current majors, and
// shows the Markdown plan on the run's summary page and as a pull-request
// comment. (Reported: it did not use $GITHUB_STEP_SUMMARY.)
func TestWorkflowPlanSummary(t *testing.T) {
	raw, err := os.ReadFile("examples/ci/github-actions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`uses:\s*([\w.-]+/[\w.-]+)@(\S+)`).FindAllStringSubmatch(string(raw), -1) {
		if want, ok := currentMajors[m[1]]; !ok || m[2] != want {
			t.Errorf("uses %s@%s: want %s@%s", m[1], m[2], m[1], want)
		}
	}
	docs, err := decodeDocuments(raw)
	if err != nil {
		t.Fatal(err)
	}
	var markdown, summary, comment bool
	jobs := nodeAt(docs[0], "jobs")
	for i := 1; i < len(jobs.Content); i += 2 {
		for _, step := range nodeAt(jobs.Content[i], "steps").Content {
			run := scalarAt(step, "run")
			for _, cmd := range shellCommands(run) {
				if args := cmd.hubprovArgs(); len(args) > 0 && args[0] == "plan" && argValues(args)["format"] == "markdown" {
					markdown = true
				}
			}
			summary = summary || markdown && regexp.MustCompile(`cat plan\.md >> "\$GITHUB_STEP_SUMMARY"`).MatchString(run)
			script := scalarAt(step, "with", "script")
			comment = comment || strings.Contains(script, "plan.md") && strings.Contains(script, "createComment") && strings.Contains(script, "updateComment")
		}
	}
	if !markdown || !summary || !comment {
		t.Errorf("markdown plan %v, in $GITHUB_STEP_SUMMARY %v, as a PR comment %v: want all", markdown, summary, comment)
	}
}
