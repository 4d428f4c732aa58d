{{/* Chart name, overridable. */}}
{{- define "pdm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped base name for every object. */}}
{{- define "pdm.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of one component's objects; call with (dict "root" $ "name" $name). */}}
{{- define "pdm.componentName" -}}
{{- printf "%s-%s" (include "pdm.fullname" .root | trunc 52 | trimSuffix "-") .name }}
{{- end }}

{{- define "pdm.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "pdm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels of one component; call with (dict "root" $ "name" $name). */}}
{{- define "pdm.componentLabels" -}}
{{ include "pdm.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{/* Immutable selector of one component; call with (dict "root" $ "name" $name). */}}
{{- define "pdm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pdm.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{/* The api serves everything on API_PORT; the others serve health and metrics on METRICS_PORT. */}}
{{- define "pdm.port" -}}
{{- if eq .name "api" }}{{ .root.Values.ports.api }}{{ else }}{{ .root.Values.ports.metrics }}{{ end }}
{{- end }}

{{- define "pdm.secretName" -}}
{{- default (printf "%s-secrets" (include "pdm.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{- define "pdm.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pdm.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "pdm.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
