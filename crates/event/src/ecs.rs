//! Elastic Common Schema field names used across Palisade.
//!
//! Parsers store these names (or alias them to the source's own fields) so detectors written
//! against ECS work on every format.

pub const TIMESTAMP: &str = "@timestamp";
pub const MESSAGE: &str = "message";
pub const EVENT_KIND: &str = "event.kind";
pub const EVENT_CATEGORY: &str = "event.category";
pub const EVENT_TYPE: &str = "event.type";
pub const EVENT_ACTION: &str = "event.action";
pub const EVENT_OUTCOME: &str = "event.outcome";
pub const EVENT_CODE: &str = "event.code";
pub const EVENT_MODULE: &str = "event.module";
pub const EVENT_DATASET: &str = "event.dataset";
pub const EVENT_SEVERITY: &str = "event.severity";
pub const HOST_NAME: &str = "host.name";
pub const USER_NAME: &str = "user.name";
pub const USER_TARGET_NAME: &str = "user.target.name";
pub const USER_EFFECTIVE_NAME: &str = "user.effective.name";
pub const SOURCE_IP: &str = "source.ip";
pub const SOURCE_PORT: &str = "source.port";
pub const SOURCE_BYTES: &str = "source.bytes";
pub const DESTINATION_IP: &str = "destination.ip";
pub const DESTINATION_PORT: &str = "destination.port";
pub const DESTINATION_BYTES: &str = "destination.bytes";
pub const NETWORK_TRANSPORT: &str = "network.transport";
pub const NETWORK_PROTOCOL: &str = "network.protocol";
pub const PROCESS_NAME: &str = "process.name";
pub const PROCESS_PID: &str = "process.pid";
pub const PROCESS_EXECUTABLE: &str = "process.executable";
pub const PROCESS_COMMAND_LINE: &str = "process.command_line";
pub const PROCESS_PARENT_EXECUTABLE: &str = "process.parent.executable";
pub const AUTH_METHOD: &str = "authentication.method";
pub const LOG_SYSLOG_APPNAME: &str = "log.syslog.appname";
pub const LOG_SYSLOG_FACILITY: &str = "log.syslog.facility.code";
pub const LOG_SYSLOG_SEVERITY: &str = "log.syslog.severity.code";
pub const LABEL: &str = "label";
