"""The metric model and every edge: files, streams, exit codes.  Data flows one way:
log -> ``parsers`` -> records -> ``exporter.report`` -> ``exporter.families``
-> ``exporter.textfile``.
"""
