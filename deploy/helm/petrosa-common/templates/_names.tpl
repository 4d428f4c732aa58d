{{/*
Names and labels. Every template here is called with the component chart's root context.
The component (ingestor, auditor, backfiller, analytics, api) is the chart's name without
its "petrosa-" prefix, or the alias the umbrella chart gives it.
*/}}

{{/* Shared settings the umbrella passes as `global.*` win over the chart's own; called first by every entry template. */}}
{{- define "petrosa.init" -}}
{{- $global := default (dict) .Values.global }}
{{- $_ := mergeOverwrite .Values (deepCopy (pick $global "image" "imagePullSecrets" "config" "secrets" "nats" "mongo" "redis" "otel" "networkPolicy" "metrics")) }}
{{- end }}

{{- define "petrosa.component" -}}
{{- trimPrefix "petrosa-" .Chart.Name }}
{{- end }}

{{- define "petrosa.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "petrosa.fullname" -}}
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

{{- define "petrosa.selectorLabels" -}}
app.kubernetes.io/name: {{ include "petrosa.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ include "petrosa.component" . }}
{{- end }}

{{- define "petrosa.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "petrosa.selectorLabels" . }}
app.kubernetes.io/part-of: petrosa-data-manager
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "petrosa.secretName" -}}
{{- default (printf "%s-secrets" (include "petrosa.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{- define "petrosa.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "petrosa.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "petrosa.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The port name Services, probes, monitors and policies refer to: the api serves its REST API on it too. */}}
{{- define "petrosa.portName" -}}
{{- if eq (include "petrosa.component" .) "api" }}http{{ else }}metrics{{ end }}
{{- end }}

{{/* MongoDB options for a replica set, as a URL query (empty when none is set). */}}
{{- define "petrosa.mongoQuery" -}}
{{- $m := .Values.mongo }}
{{- $q := list }}
{{- if $m.replicaSet }}{{ $q = append $q (printf "replicaSet=%s" $m.replicaSet) }}{{ end }}
{{- if $m.writeConcern }}{{ $q = append $q (printf "w=%s" (toString $m.writeConcern)) }}{{ end }}
{{- if $m.journal }}{{ $q = append $q "journal=true" }}{{ end }}
{{- if $m.readPreference }}{{ $q = append $q (printf "readPreference=%s" $m.readPreference) }}{{ end }}
{{- if $m.readConcernLevel }}{{ $q = append $q (printf "readConcernLevel=%s" $m.readConcernLevel) }}{{ end }}
{{- if kindIs "bool" $m.retryWrites }}{{ $q = append $q (printf "retryWrites=%t" $m.retryWrites) }}{{ end }}
{{- if kindIs "bool" $m.retryReads }}{{ $q = append $q (printf "retryReads=%t" $m.retryReads) }}{{ end }}
{{- join "&" $q }}
{{- end }}

{{/* "true" when the component reads a shared rate-limit store and redis.enabled asks for it. */}}
{{- define "petrosa.redisOn" -}}
{{- if and .Values.redis.enabled .Values.redis.urlEnv }}true{{ end }}
{{- end }}
