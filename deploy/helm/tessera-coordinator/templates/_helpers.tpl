{{/* Names and labels shared by every object of the chart. */}}

{{- define "tessera-coordinator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tessera-coordinator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tessera-coordinator.labels" -}}
{{ include "tessera-coordinator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* A probe: exec when probes.exec.command is set, else a TCP connect to
the gRPC port; then the timing in .timing. */}}
{{- define "tessera-coordinator.probe" -}}
{{- if .root.Values.probes.exec.command -}}
exec:
  command:
    {{- toYaml .root.Values.probes.exec.command | nindent 4 }}
{{- else -}}
tcpSocket:
  port: grpc
{{- end }}
{{ toYaml .timing }}
{{- end -}}
