{{- define "petrosa.service" -}}
{{- include "petrosa.init" . }}
{{- $component := include "petrosa.component" . }}
{{- $port := ternary .Values.ports.api .Values.ports.metrics (eq $component "api") }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "petrosa.fullname" . }}
  labels:
    {{- include "petrosa.labels" . | nindent 4 }}
  annotations:
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ $port | quote }}
    prometheus.io/path: /metrics
    {{- with .Values.service.annotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  type: {{ .Values.service.type }}
  selector:
    {{- include "petrosa.selectorLabels" . | nindent 4 }}
  ports:
    - name: {{ include "petrosa.portName" . }}
      port: {{ $port }}
      targetPort: {{ include "petrosa.portName" . }}
      protocol: TCP
{{- end }}

{{- define "petrosa.pdb" -}}
{{- include "petrosa.init" . }}
{{- if .Values.pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "petrosa.fullname" . }}
  labels:
    {{- include "petrosa.labels" . | nindent 4 }}
spec:
  {{- if hasKey .Values.pdb "minAvailable" }}
  minAvailable: {{ .Values.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .Values.pdb.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "petrosa.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

{{/* CPU-driven HorizontalPodAutoscaler (api, ingestor); off when KEDA scales the Deployment. */}}
{{- define "petrosa.hpa" -}}
{{- include "petrosa.init" . }}
{{- $a := .Values.autoscaling }}
{{- if and $a.enabled .Values.keda .Values.keda.enabled }}
{{- fail "autoscaling.enabled and keda.enabled both scale the Deployment: enable one" }}
{{- end }}
{{- if $a.enabled }}
{{- if gt (int $a.minReplicas) (int $a.maxReplicas) }}
{{- fail (printf "autoscaling.minReplicas (%d) exceeds autoscaling.maxReplicas (%d)" (int $a.minReplicas) (int $a.maxReplicas)) }}
{{- end }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "petrosa.fullname" . }}
  labels:
    {{- include "petrosa.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "petrosa.fullname" . }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $a.targetCPUUtilizationPercentage }}
  {{- with $a.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}

{{/* KEDA ScaledObject: ingestor replicas follow the durable consumer's pending count. */}}
{{- define "petrosa.scaledobject" -}}
{{- include "petrosa.init" . }}
{{- $k := .Values.keda }}
{{- if $k.enabled }}
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {{ include "petrosa.fullname" . }}
  labels:
    {{- include "petrosa.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    name: {{ include "petrosa.fullname" . }}
  minReplicaCount: {{ $k.minReplicas }}
  maxReplicaCount: {{ $k.maxReplicas }}
  pollingInterval: {{ $k.pollingInterval }}
  cooldownPeriod: {{ $k.cooldownPeriod }}
  triggers:
    - type: nats-jetstream
      metadata:
        natsServerMonitoringEndpoint: {{ required "keda.monitoringEndpoint (host:port of NATS monitoring) is required when keda.enabled" $k.monitoringEndpoint | quote }}
        account: {{ $k.account | quote }}
        stream: {{ default "MARKET_DATA" .Values.env.NATS_STREAM_NAME | quote }}
        consumer: {{ default "ingestor" .Values.env.NATS_CONSUMER_DURABLE | quote }}
        lagThreshold: {{ $k.lagThreshold | toString | quote }}
        activationLagThreshold: {{ $k.activationLagThreshold | toString | quote }}
        useHttps: {{ $k.useHttps | toString | quote }}
{{- end }}
{{- end }}

{{- define "petrosa.ingress" -}}
{{- include "petrosa.init" . }}
{{- $i := .Values.ingress }}
{{- if $i.enabled }}
{{- $name := include "petrosa.fullname" . }}
{{- if not $i.hosts }}
{{- fail "ingress.hosts needs at least one host when ingress.enabled" }}
{{- end }}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ $name }}
  labels:
    {{- include "petrosa.labels" . | nindent 4 }}
  {{- with $i.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with $i.className }}
  ingressClassName: {{ . }}
  {{- end }}
  {{- with $i.tls }}
  tls:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  rules:
    {{- range $host := $i.hosts }}
    - host: {{ $host | quote }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {{ $name }}
                port:
                  name: http
    {{- end }}
{{- end }}
{{- end }}
