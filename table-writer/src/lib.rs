//! table-writer: stores each fully classified document as one row of the result table.
//!
//! The work is in the runtime's [`worker_runtime::ToTable`] destination; the handler only declares the
//! stage, so that envelopes missing a classification are dead-lettered before any write.
#![warn(missing_docs)]

use docclass_types::{Envelope, Stage};
use worker_runtime::{Handler, HandlerError};

/// The writer stage's handler: passes validated envelopes through to the table.
pub struct PassToTable;

impl Handler for PassToTable {
    fn stage(&self) -> Stage {
        Stage::Write
    }

    fn handle(&self, envelope: Envelope) -> Result<Envelope, HandlerError> {
        Ok(envelope)
    }
}
