'use strict';
// The OCI SDK retries and opens circuit breakers by default; tests want each call's own result.
process.env.OCI_SDK_DEFAULT_RETRY_ENABLED = 'false';
process.env.OCI_SDK_DEFAULT_CIRCUITBREAKER_ENABLED = 'false';
