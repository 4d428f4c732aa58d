{{- define "petrosa.servicemonitor" -}}
{{- include "petrosa.init" . }}
{{- $sm := .Values.metrics.serviceMonitor }}
{{- if $sm.enabled }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "petrosa.fullname" . }}
  labels:
    {{- include "petrosa.labels" . | nindent 4 }}
    {{- with $sm.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "petrosa.selectorLabels" . | nindent 6 }}
  namespaceSelector:
    matchNames: [{{ .Release.Namespace | quote }}]
  endpoints:
    - port: {{ include "petrosa.portName" . }}
      path: /metrics
      interval: {{ $sm.interval }}
      scrapeTimeout: {{ $sm.scrapeTimeout }}
{{- end }}
{{- end }}

{{/* The component's group of deploy/monitoring/alerts.yaml (files/alerts.yaml links to it). */}}
{{- define "petrosa.prometheusrule" -}}
{{- include "petrosa.init" . }}
{{- $pr := .Values.metrics.prometheusRule }}
{{- if $pr.enabled }}
{{- $component := include "petrosa.component" . }}
{{- $rules := .Files.Get "files/alerts.yaml" | fromYaml }}
{{- $groups := list }}
{{- range $group := $rules.groups }}
{{- if eq $group.name (printf "petrosa-%s" $component) }}{{ $groups = append $groups $group }}{{ end }}
{{- end }}
{{- if not $groups }}
{{- fail (printf "files/alerts.yaml has no group petrosa-%s" $component) }}
{{- end }}
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: {{ include "petrosa.fullname" . }}
  labels:
    {{- include "petrosa.labels" . | nindent 4 }}
    {{- with $pr.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  groups:
    {{- toYaml $groups | nindent 4 }}
{{- end }}
{{- end }}
