//! Harvesting arXiv's OAI-PMH interface into the JSON Lines that `docclass train` reads: fresh labelled
//! papers (categories as codes) for a corpus that ends where the shared one does. [`page`] reads one
//! answer; [`run`] (with the `fetch` feature) pages through a whole list, resumably.

mod page;
#[cfg(feature = "fetch")]
mod run;

pub use page::{HarvestedPaper, MetadataFormat, Page, PageError, parse_page};
#[cfg(feature = "fetch")]
pub use run::{Harvest, HarvestError, HarvestProgress, HarvestReport, MAX_EMPTY_PAGES, harvest};
