// parse-prometheus-text-format ships no types; this is the part the gateway tests use.
declare module 'parse-prometheus-text-format' {
  interface Sample {
    value?: string
    labels?: Record<string, string>
    buckets?: Record<string, string>
    count?: string
    sum?: string
  }
  interface MetricFamily {
    name: string
    help: string
    type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED'
    metrics: Sample[]
  }
  function parsePrometheusTextFormat (text: string): MetricFamily[]
  export = parsePrometheusTextFormat
}
