//! MiniLM sentence embeddings: BERT's last hidden states, mean-pooled over the real tokens and
//! L2-normalised, as sentence-transformers computes them for all-MiniLM-L6-v2.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rust_bert::bert::{BertConfig, BertEmbeddings, BertModel};
use rust_bert::resources::{LocalResource, ResourceProvider};
use rust_tokenizers::tokenizer::{BertTokenizer, Tokenizer, TruncationStrategy};
use tch::{Device, Kind, Tensor, nn};

/// The model's own limit (`sentence_bert_config.json`): longer documents are cut, as
/// sentence-transformers does.
const MAX_TOKENS: usize = 256;

/// A loaded sentence encoder.
pub struct Encoder {
    model: BertModel<BertEmbeddings>,
    tokenizer: BertTokenizer,
    // Owns the weights the model's layers point into.
    _weights: nn::VarStore,
    dimension: usize,
}

impl Encoder {
    /// Loads `config.json`, `vocab.txt` and `model.safetensors` from `dir`.
    ///
    /// # Errors
    /// When a file is missing or does not fit the BERT architecture.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let resource = |name: &str| LocalResource::from(dir.join(name)).get_local_path();
        let path = |name: &str| -> anyhow::Result<PathBuf> {
            let path = resource(name).map_err(|error| anyhow::anyhow!("{error}"))?;
            anyhow::ensure!(
                path.is_file(),
                "{} is missing: is {} a MiniLM model folder?",
                path.display(),
                dir.display()
            );
            Ok(path)
        };
        let config_path = path("config.json")?;
        let config: BertConfig = serde_json::from_reader(std::fs::File::open(&config_path)?)
            .with_context(|| format!("reading {}", config_path.display()))?;
        let vocab = path("vocab.txt")?;
        // all-MiniLM-L6-v2 is uncased: its tokenizer lower-cases and strips accents.
        let tokenizer =
            BertTokenizer::from_file(&vocab, true, true).with_context(|| format!("reading {}", vocab.display()))?;
        let mut weights = nn::VarStore::new(Device::Cpu);
        let model = BertModel::<BertEmbeddings>::new_with_optional_pooler(weights.root(), &config, false);
        let safetensors = path("model.safetensors")?;
        weights.load(&safetensors).with_context(|| format!("loading {}", safetensors.display()))?;
        Ok(Self { model, tokenizer, _weights: weights, dimension: usize::try_from(config.hidden_size)? })
    }

    /// Floats per embedding (384 for MiniLM).
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// One unit-length embedding per text, computed as one padded batch.
    ///
    /// # Errors
    /// When the network fails (it should not on valid input).
    pub fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encoded = self.tokenizer.encode_list(texts, MAX_TOKENS, &TruncationStrategy::LongestFirst, 0);
        let longest = encoded.iter().map(|input| input.token_ids.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(texts.len() * longest);
        let mut mask = Vec::with_capacity(texts.len() * longest);
        for input in &encoded {
            let padding = longest - input.token_ids.len();
            ids.extend_from_slice(&input.token_ids);
            ids.extend(std::iter::repeat_n(0_i64, padding));
            mask.extend(std::iter::repeat_n(1_i64, input.token_ids.len()));
            mask.extend(std::iter::repeat_n(0_i64, padding));
        }
        let shape = [i64::try_from(texts.len())?, i64::try_from(longest)?];
        let ids = Tensor::from_slice(&ids).view(shape);
        let mask = Tensor::from_slice(&mask).view(shape);
        let pooled = tch::no_grad(|| -> anyhow::Result<Tensor> {
            let output = self
                .model
                .forward_t(Some(&ids), Some(&mask), None, None, None, None, None, false)
                .map_err(|error| anyhow::anyhow!("encoder: {error}"))?;
            // Mean over the real tokens only: padding must not pull short texts towards zero.
            let mask = mask.unsqueeze(-1).to_kind(Kind::Float);
            let summed = (output.hidden_state * &mask).sum_dim_intlist([1_i64].as_slice(), false, Kind::Float);
            let counts = mask.sum_dim_intlist([1_i64].as_slice(), false, Kind::Float).clamp_min(1e-9);
            let mean = summed / counts;
            let norms = mean.norm_scalaropt_dim(2, [1_i64].as_slice(), true).clamp_min(1e-12);
            Ok(mean / norms)
        })?;
        let flat: Vec<f32> = Vec::<f32>::try_from(pooled.contiguous().view(-1))?;
        Ok(flat.chunks(self.dimension).map(<[f32]>::to_vec).collect())
    }
}
