{{/* One egress rule: `port` to `peers`, or to any destination when no peer is listed. */}}
{{- define "petrosa.egressRule" -}}
- ports:
    {{- range $protocol := default (list "TCP") .protocols }}
    - port: {{ $.port }}
      protocol: {{ $protocol }}
    {{- end }}
  {{- with .peers }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
The traffic the architecture draws, and nothing else. In: Prometheus to the metrics port;
for the api, its clients (and the ingress controller) to the API port. Out: DNS, NATS, both
stores; the backfiller to Binance's REST API; the OTLP collector and Redis when configured.
*/}}
{{- define "petrosa.networkpolicy" -}}
{{- include "petrosa.init" . }}
{{- $np := .Values.networkPolicy }}
{{- if $np.enabled }}
{{- $component := include "petrosa.component" . }}
{{- $portName := include "petrosa.portName" . }}
{{- $port := ternary .Values.ports.api .Values.ports.metrics (eq $component "api") }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "petrosa.fullname" . }}
  labels:
    {{- include "petrosa.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "petrosa.selectorLabels" . | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress:
    - ports:
        - port: {{ $port }}
          protocol: TCP
      from:
        {{- toYaml $np.prometheus | nindent 8 }}
    {{- if eq $component "api" }}
    - ports:
        - port: {{ $port }}
          protocol: TCP
      from:
        {{- toYaml $np.apiClients | nindent 8 }}
        {{- if .Values.ingress.enabled }}
        {{- toYaml $np.ingressController | nindent 8 }}
        {{- end }}
    {{- end }}
  egress:
    {{- include "petrosa.egressRule" (dict "port" 53 "protocols" (list "UDP" "TCP") "peers" $np.dns.peers) | nindent 4 }}
    {{- include "petrosa.egressRule" $np.nats | nindent 4 }}
    {{- include "petrosa.egressRule" $np.marketStore | nindent 4 }}
    {{- include "petrosa.egressRule" $np.metadataStore | nindent 4 }}
    {{- if include "petrosa.redisOn" . }}
    {{- include "petrosa.egressRule" $np.redis | nindent 4 }}
    {{- end }}
    {{- if .Values.otel.enabled }}
    {{- include "petrosa.egressRule" $np.otel | nindent 4 }}
    {{- end }}
    {{- if eq $component "backfiller" }}
    - ports:
        - port: {{ $np.binance.port }}
          protocol: TCP
      to:
        {{- range $cidr := $np.binance.cidrs }}
        - ipBlock:
            cidr: {{ $cidr }}
            {{- with $np.binance.except }}
            except:
              {{- toYaml . | nindent 14 }}
            {{- end }}
        {{- end }}
    {{- end }}
{{- end }}
{{- end }}
