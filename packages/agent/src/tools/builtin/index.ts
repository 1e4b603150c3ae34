/** Built-in tools that touch real things without the internet: `Files` (one directory) and `Http` (fetch). */
export { createFileTools, wildcard, type FileToolsOptions, type FileEntry, type FileWriteResult } from './file-tools.js'
export { createHttpTools, type HttpToolsOptions, type HttpResponse, type HttpReconcile, type HttpRequestRecord } from './http-tools.js'
export { classifyHttpStatus, classifyFetchFailure } from './http-classify.js'
