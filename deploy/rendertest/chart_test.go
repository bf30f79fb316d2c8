package rendertest

import (
	"fmt"
	"net"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// operatorSecretName is the Secret deploy/README.md creates and
// values.yaml's existingSecret names.
const operatorSecretName = "gatehouse"

// TestHelmChart renders the chart with its default values and with
// testdata/two-replicas.values.yaml (ingress, ServiceMonitor, two
// replicas on Redis and PostgreSQL), checks the objects fit together, and
// requires the gateway's container, laid out as the kubelet would lay it
// out, to pass check-config as uid 65532.
func TestHelmChart(t *testing.T) {
	img := readImage(t)
	var twoReplicas map[string]any
	readYAML(t, "testdata/two-replicas.values.yaml", &twoReplicas)
	for _, tc := range []struct {
		name   string
		values map[string]any
		extras bool // ingress and serviceMonitor enabled
	}{
		{"default values", nil, false},
		{"two replicas, ingress, ServiceMonitor", twoReplicas, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := render(t, tc.values)
			checkChart(t, m, tc.extras)
			needRoot(t)
			c := kube(t, m, img, map[string]map[string][]byte{operatorSecretName: operatorSecret()})
			c.mustStart(t)
		})
	}
}

// checkChart checks what deploy/README.md says the chart has, and that
// its objects refer to each other correctly.
func checkChart(t *testing.T, m manifests, extras bool) {
	t.Helper()
	d := m.deployment
	pod := d.Spec.Template.Spec
	ctr := pod.Containers[0]
	var cfg struct {
		Listen        string `json:"listen"`
		MetricsListen string `json:"metrics_listen"`
	}
	for _, cm := range m.configMaps {
		if err := yaml.Unmarshal([]byte(cm.Data["gatehouse.yaml"]), &cfg); err != nil {
			t.Fatalf("ConfigMap %s: gatehouse.yaml: %v", cm.Name, err)
		}
	}
	containerPort := func(name string) int32 {
		for _, p := range ctr.Ports {
			if p.Name == name {
				return p.ContainerPort
			}
		}
		t.Errorf("the container has no port named %q", name)
		return 0
	}
	portOf := func(key, hostPort string) int32 {
		_, p, err := net.SplitHostPort(hostPort)
		if err != nil {
			t.Fatalf("config %s %q: %v", key, hostPort, err)
		}
		var n int32
		fmt.Sscan(p, &n)
		return n
	}
	if got, want := containerPort("http"), portOf("listen", cfg.Listen); got != want {
		t.Errorf("container port http is %d, the gateway listens on %d", got, want)
	}

	// The Service: http, and metrics when the gateway serves them.
	svc := m.services[0]
	ports := map[string]corev1.ServicePort{}
	for _, p := range svc.Spec.Ports {
		ports[p.Name] = p
		if p.TargetPort.StrVal == "" {
			t.Errorf("Service port %s: targetPort %v is not a named container port", p.Name, p.TargetPort)
			continue
		}
		containerPort(p.TargetPort.StrVal)
	}
	if _, ok := ports["http"]; !ok {
		t.Errorf("the Service has no http port: %+v", svc.Spec.Ports)
	}
	if cfg.MetricsListen == "" {
		t.Errorf("config has no metrics_listen: the chart's metrics port is not exercised")
	} else if p, ok := ports["metrics"]; !ok {
		t.Errorf("metrics_listen is %s but the Service has no metrics port", cfg.MetricsListen)
	} else if got, want := containerPort(p.TargetPort.StrVal), portOf("metrics_listen", cfg.MetricsListen); got != want {
		t.Errorf("container port metrics is %d, the gateway serves metrics on %d", got, want)
	}
	podLabels := d.Spec.Template.Labels
	subset := func(what string, sel map[string]string, labels map[string]string) {
		if len(sel) == 0 {
			t.Errorf("%s: empty selector", what)
		}
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("%s: selector %s=%s does not match %v", what, k, v, labels)
			}
		}
	}
	subset("Service", svc.Spec.Selector, podLabels)
	subset("Deployment", d.Spec.Selector.MatchLabels, podLabels)
	for _, pr := range []*corev1.Probe{ctr.ReadinessProbe, ctr.LivenessProbe} {
		if pr == nil || pr.HTTPGet == nil {
			t.Errorf("want HTTP readiness and liveness probes")
			continue
		}
		containerPort(pr.HTTPGet.Port.StrVal)
	}
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Errorf("enableServiceLinks is not false: the Service %q gives the pod %s_SERVICE_HOST and the like, GATEHOUSE_* variables the gateway refuses as unknown",
			svc.Name, strings.ToUpper(svc.Name))
	}

	// Drains: a PodDisruptionBudget that lets one pod go at a time.
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	if replicas < 2 {
		t.Errorf("replicas %d: want at least 2", replicas)
	}
	if m.pdb == nil {
		t.Error("no PodDisruptionBudget")
	} else {
		subset("PodDisruptionBudget", m.pdb.Spec.Selector.MatchLabels, podLabels)
		if ma := m.pdb.Spec.MinAvailable; ma == nil || ma.IntValue() < 1 || ma.IntValue() >= int(replicas) {
			t.Errorf("PodDisruptionBudget minAvailable %v with %d replicas: a drain could take every pod, or none", ma, replicas)
		}
	}

	// Stopping: a preStop sleep, inside the grace period.
	if ctr.Lifecycle == nil || ctr.Lifecycle.PreStop == nil || ctr.Lifecycle.PreStop.Sleep == nil || ctr.Lifecycle.PreStop.Sleep.Seconds < 1 {
		t.Errorf("no preStop sleep: %+v", ctr.Lifecycle)
	} else if g := pod.TerminationGracePeriodSeconds; g == nil || *g <= ctr.Lifecycle.PreStop.Sleep.Seconds+35 {
		// 35: the gateway's drain delay (5s) and shutdown timeout (30s).
		t.Errorf("terminationGracePeriodSeconds %v leaves no room after a %ds preStop sleep and the gateway's 35s drain", g, ctr.Lifecycle.PreStop.Sleep.Seconds)
	}

	// Ingress and ServiceMonitor: only when enabled, pointing at the Service.
	if !extras {
		if m.ingress != nil || m.serviceMonitor != nil {
			t.Errorf("default values render an Ingress (%v) or a ServiceMonitor (%v)", m.ingress != nil, m.serviceMonitor != nil)
		}
		return
	}
	if m.ingress == nil {
		t.Error("ingress.enabled renders no Ingress")
	} else {
		for _, r := range m.ingress.Spec.Rules {
			for _, p := range r.HTTP.Paths {
				b := p.Backend.Service
				if b == nil || b.Name != svc.Name || ports[b.Port.Name].Name == "" {
					t.Errorf("Ingress backend %+v is not a port of the Service %s", b, svc.Name)
				}
			}
		}
		if len(m.ingress.Spec.Rules) == 0 || len(m.ingress.Spec.TLS) == 0 {
			t.Errorf("Ingress: want a rule and TLS: %+v", m.ingress.Spec)
		}
	}
	if m.serviceMonitor == nil {
		t.Fatal("serviceMonitor.enabled renders no ServiceMonitor")
	}
	var sm struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			Endpoints []struct {
				Port string `json:"port"`
				Path string `json:"path"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	b, _ := yaml.Marshal(m.serviceMonitor)
	if err := yaml.Unmarshal(b, &sm); err != nil {
		t.Fatal(err)
	}
	subset("ServiceMonitor", sm.Spec.Selector.MatchLabels, svc.Labels)
	if len(sm.Spec.Endpoints) != 1 || ports[sm.Spec.Endpoints[0].Port].Name != "metrics" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v: want the Service's metrics port, /metrics", sm.Spec.Endpoints)
	}
}

// TestHelmChartRefusals are the negative controls: a container the
// gateway would refuse must fail the same checks.
func TestHelmChartRefusals(t *testing.T) {
	needRoot(t)
	img := readImage(t)
	m := render(t, nil)
	with := func(edit func(*manifests), secret map[string][]byte) *container {
		mm := m
		mm.deployment = m.deployment.DeepCopy()
		if edit != nil {
			edit(&mm)
		}
		return kube(t, mm, img, map[string]map[string][]byte{operatorSecretName: secret})
	}

	t.Run("Kubernetes 1.29", func(t *testing.T) {
		// No preStop sleep action by default before 1.30: the chart says so.
		if _, err := renderAt(t, "v1.29.9", nil); err == nil || !strings.Contains(err.Error(), "kubeVersion") {
			t.Fatalf("rendering for 1.29: got %v, want the chart's kubeVersion to refuse", err)
		}
	})

	t.Run("service links", func(t *testing.T) {
		// The Kubernetes default: the Service "gatehouse" becomes
		// GATEHOUSE_SERVICE_HOST, GATEHOUSE_PORT, … in the pod.
		c := with(func(m *manifests) { m.deployment.Spec.Template.Spec.EnableServiceLinks = nil }, operatorSecret())
		code, out := c.checkConfig(t, c.lay(t))
		if code == 0 || !strings.Contains(out, "GATEHOUSE_SERVICE_HOST") {
			t.Fatalf("with service links, check-config exited %d:\n%s", code, out)
		}
		t.Logf("refused as expected:\n%s", out)
	})

	t.Run("key file not in the Secret", func(t *testing.T) {
		s := operatorSecret()
		delete(s, "gatehouse.keys")
		c := with(nil, s)
		root := c.lay(t)
		if err := c.checkFiles(t, root); err == nil || !strings.Contains(err.Error(), "secrets.key_file") {
			t.Errorf("the view's file check: got %v, want secrets.key_file missing", err)
		}
		code, out := c.checkConfig(t, root)
		if code == 0 || !strings.Contains(out, "gatehouse.keys") {
			t.Fatalf("check-config without the key file exited %d:\n%s", code, out)
		}
		t.Logf("refused as expected:\n%s", out)
	})

	t.Run("Secret readable by others", func(t *testing.T) {
		c := with(func(m *manifests) {
			mode := int32(0o644)
			for i := range m.deployment.Spec.Template.Spec.Volumes {
				if s := m.deployment.Spec.Template.Spec.Volumes[i].Secret; s != nil {
					s.DefaultMode = &mode
				}
			}
		}, operatorSecret())
		code, out := c.checkConfig(t, c.lay(t))
		if code == 0 || !strings.Contains(out, "gatehouse.keys") || !strings.Contains(out, "0644") {
			t.Fatalf("check-config with the key file at 0644 exited %d:\n%s", code, out)
		}
		t.Logf("refused as expected:\n%s", out)
	})
}
