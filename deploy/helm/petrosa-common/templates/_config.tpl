{{/* Non-secret environment of the component: shared config, the component's env, ports, tracing. */}}
{{- define "petrosa.configData" -}}
{{- $component := include "petrosa.component" . }}
{{- if contains "@" (toString .Values.config.NATS_URL) }}
{{- fail "config.NATS_URL must not carry credentials (the ConfigMap is not secret): set nats.auth and put them in the Secret" }}
{{- end }}
{{- range $key, $value := merge (dict) (default (dict) .Values.env) .Values.config }}
{{ $key }}: {{ $value | toString | quote }}
{{- end }}
METRICS_PORT: {{ .Values.ports.metrics | quote }}
SHUTDOWN_TIMEOUT: {{ .Values.shutdownTimeoutSeconds | quote }}
{{- if eq $component "api" }}
API_PORT: {{ .Values.ports.api | quote }}
API_KEYS_FILE: /etc/petrosa/api-keys/{{ .Values.secrets.keys.apiKeys }}
{{- end }}
{{- with .Values.otel }}
{{- if .enabled }}
OTEL_SDK_DISABLED: "false"
OTEL_EXPORTER_OTLP_ENDPOINT: {{ required "otel.endpoint is required when otel.enabled" .endpoint | quote }}
OTEL_TRACES_SAMPLER: {{ .sampler | quote }}
OTEL_TRACES_SAMPLER_ARG: {{ .samplerArg | toString | quote }}
OTEL_PROPAGATORS: tracecontext,baggage
{{- if .resourceAttributes }}
OTEL_RESOURCE_ATTRIBUTES: {{ include "petrosa.otelAttributes" .resourceAttributes | quote }}
{{- end }}
{{- else }}
OTEL_SDK_DISABLED: "true"
{{- end }}
{{- end }}
{{- end }}

{{- define "petrosa.otelAttributes" -}}
{{- $pairs := list }}
{{- range $k, $v := . }}{{ $pairs = append $pairs (printf "%s=%s" $k (toString $v)) }}{{ end }}
{{- join "," $pairs }}
{{- end }}

{{- define "petrosa.configmap" -}}
{{- include "petrosa.init" . }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "petrosa.fullname" . }}
  labels:
    {{- include "petrosa.labels" . | nindent 4 }}
data:
  {{- include "petrosa.configData" . | trim | nindent 2 }}
{{- end }}

{{/*
The Secret the chart creates when secrets.existingSecret is empty. MongoDB replica-set
options (mongo.*) join the market-store URL here; with an existing Secret, put them in its URL.
*/}}
{{- define "petrosa.secret" -}}
{{- include "petrosa.init" . }}
{{- if not .Values.secrets.existingSecret }}
{{- $v := .Values.secrets.values }}
{{- $keys := .Values.secrets.keys }}
{{- $hint := "or set secrets.existingSecret" }}
{{- $market := required (printf "secrets.values.marketStoreUrl is required %s" $hint) $v.marketStoreUrl }}
{{- $query := include "petrosa.mongoQuery" . }}
{{- if and $query (hasPrefix "mongodb" $market) }}
{{- $market = printf "%s%s%s" $market (ternary "&" "?" (contains "?" $market)) $query }}
{{- end }}
{{- $needed := dict }}
{{- $nats := .Values.nats }}
{{- if eq $nats.auth "userPassword" }}{{ $_ := set $needed "natsUser" $v.natsUser }}{{ $_ := set $needed "natsPassword" $v.natsPassword }}{{ end }}
{{- if eq $nats.auth "token" }}{{ $_ := set $needed "natsToken" $v.natsToken }}{{ end }}
{{- if eq $nats.auth "nkey" }}{{ $_ := set $needed "natsNkeySeed" $v.natsNkeySeed }}{{ end }}
{{- if eq $nats.auth "creds" }}{{ $_ := set $needed "natsCreds" $v.natsCreds }}{{ end }}
{{- if $nats.tls.enabled }}{{ $_ := set $needed "natsTlsCa" $v.natsTlsCa }}{{ end }}
{{- if and $nats.tls.enabled $nats.tls.clientCert }}{{ $_ := set $needed "natsTlsCert" $v.natsTlsCert }}{{ $_ := set $needed "natsTlsKey" $v.natsTlsKey }}{{ end }}
{{- if include "petrosa.redisOn" . }}{{ $_ := set $needed "redisUrl" $v.redisUrl }}{{ end }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ include "petrosa.secretName" . }}
  labels:
    {{- include "petrosa.labels" . | nindent 4 }}
type: Opaque
stringData:
  {{ $keys.marketStoreUrl }}: {{ $market | quote }}
  {{ $keys.metadataStoreUrl }}: {{ required (printf "secrets.values.metadataStoreUrl is required %s" $hint) $v.metadataStoreUrl | quote }}
  {{- if eq (include "petrosa.component" .) "api" }}
  {{ $keys.apiKeys }}: {{ required (printf "secrets.values.apiKeys is required %s" $hint) $v.apiKeys | quote }}
  {{- end }}
  {{- range $name, $value := $needed }}
  {{ get $keys $name }}: {{ required (printf "secrets.values.%s is required by nats.auth, nats.tls or redis.enabled %s" $name $hint) $value | quote }}
  {{- end }}
{{- end }}
{{- end }}

{{- define "petrosa.serviceaccount" -}}
{{- include "petrosa.init" . }}
{{- if .Values.serviceAccount.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "petrosa.serviceAccountName" . }}
  labels:
    {{- include "petrosa.labels" . | nindent 4 }}
# No component talks to the Kubernetes API.
automountServiceAccountToken: false
{{- end }}
{{- end }}
