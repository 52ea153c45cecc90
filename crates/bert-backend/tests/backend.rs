//! The transformer backend against the real MiniLM weights. Run by `scripts/test-bert.sh`, which
//! installs them and sets `DOCCLASS_BERT_ENCODER` (the model folder) and `DOCCLASS_BERT_REFERENCE`
//! (embeddings of `REFERENCE_TEXTS` computed by sentence-transformers, the reference implementation).

use std::path::PathBuf;

use bert_backend::{BertClassifier, Encoder};
use text_model::{Classifier, Example};

/// The texts `scripts/test-bert.sh` embeds with sentence-transformers; keep the two lists equal.
const REFERENCE_TEXTS: [&str; 3] = [
    "The doctor examined the patient and prescribed antibiotics.",
    "A physician treated a sick person with medicine.",
    "The rocket carried the satellite into a low Earth orbit.",
];

fn encoder_dir() -> PathBuf {
    std::env::var_os("DOCCLASS_BERT_ENCODER")
        .map(PathBuf::from)
        .expect("DOCCLASS_BERT_ENCODER names the MiniLM folder: run scripts/test-bert.sh")
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn embeddings_match_sentence_transformers() {
    let encoder = Encoder::load(&encoder_dir()).unwrap();
    let embeddings = encoder.embed(&REFERENCE_TEXTS).unwrap();
    let reference: Vec<Vec<f32>> = serde_json::from_str(
        &std::fs::read_to_string(std::env::var("DOCCLASS_BERT_REFERENCE").expect("run scripts/test-bert.sh")).unwrap(),
    )
    .unwrap();
    for (ours, theirs) in embeddings.iter().zip(&reference) {
        assert_eq!(ours.len(), 384);
        let norm = cosine(ours, ours).sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "unit length, got {norm}");
        let agreement = cosine(ours, theirs);
        assert!(agreement > 0.999, "same embedding as sentence-transformers: cosine {agreement}");
    }
    // Meaning, not words: the two medical sentences share almost no words.
    assert!(cosine(&embeddings[0], &embeddings[1]) > cosine(&embeddings[0], &embeddings[2]) + 0.2);
    // Batching (with padding) must not change a text's embedding.
    let alone = encoder.embed(&REFERENCE_TEXTS[2..]).unwrap();
    assert!(cosine(&alone[0], &embeddings[2]) > 0.9999);
}

fn corpus(file: &str, limit: usize) -> Vec<Example> {
    let data = std::env::var_os("DOCCLASS_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let path = data.join("20ng").join(file);
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap()));
    let mut examples: Vec<Example> = std::io::BufRead::lines(reader)
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            let text = |key: &str| value[key].as_str().unwrap_or_default().to_owned();
            Example {
                id: text("id"),
                title: text("title"),
                text: text("text"),
                topic: text("topic"),
                subtopic: text("subtopic"),
                categories: Vec::new(),
                published_days: None,
            }
        })
        .collect();
    fastrand::Rng::with_seed(3).shuffle(&mut examples);
    examples.truncate(limit);
    examples
}

#[test]
fn a_head_trained_on_few_documents_classifies_both_levels() {
    let dir = encoder_dir();
    let encoder = Encoder::load(&dir).unwrap();
    let train = corpus("train.jsonl.gz", 600);
    let head = bert_backend::train(&encoder, dir, &train, &mut |_| {}).unwrap();
    let out = tempfile_path("head.json");
    head.save(&out).unwrap();
    let classifier = BertClassifier::load(&out).unwrap();
    assert!(classifier.version().starts_with("bert-"));

    let dev = corpus("dev.jsonl.gz", 200);
    let documents: Vec<(&str, &str)> = dev.iter().map(|e| (e.title.as_str(), e.text.as_str())).collect();
    let predictions = classifier.predict_batch(&documents);
    let right = dev.iter().zip(&predictions).filter(|(e, p)| p.topic.label == e.topic).count();
    let accuracy = right as f64 / dev.len() as f64;
    eprintln!("topic accuracy on 200 dev documents after 600 training documents: {accuracy:.3}");
    assert!(accuracy > 0.6, "the head learned topics: accuracy {accuracy}");
    for prediction in &predictions {
        assert!(prediction.subtopic.label.starts_with(&format!("{}.", prediction.topic.label)));
        assert!((0.0..=1.0).contains(&prediction.topic.score) && (0.0..=1.0).contains(&prediction.subtopic.score));
    }
    // One at a time agrees with the batch, and the subtopic level alone with both levels.
    let single = classifier.predict(documents[0].0, documents[0].1);
    assert_eq!(single.topic.label, predictions[0].topic.label);
    let subtopic = classifier.classify_subtopic(&single.topic.label, documents[0].0, documents[0].1).unwrap().subtopic;
    assert_eq!(subtopic.label, single.subtopic.label);
    assert!(classifier.classify_subtopic("no-such-topic", "", "text").is_none());
}

fn tempfile_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bert-backend-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}
