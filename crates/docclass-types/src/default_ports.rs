//! Each service's default TCP port for `/healthz` and `/metrics`, one per service so all of them can run
//! side by side on one host. (TCP ports, not the traits the architecture calls ports.) The services bind them; `deploy` maps them in the task definitions.

/// feed-ingest (also `/feeds`).
pub const FEED_INGEST: u16 = 9100;
/// topic-classifier.
pub const TOPIC_CLASSIFIER: u16 = 9101;
/// subtopic-classifier.
pub const SUBTOPIC_CLASSIFIER: u16 = 9102;
/// table-writer.
pub const TABLE_WRITER: u16 = 9103;
