"""Every JSON shape of the API: request and response models, the body reader, cursors.

Each lives in the module named for its kind: `requests`, `responses`, `fields`,
`json_body`, `cursors`.
"""
