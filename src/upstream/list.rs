//! Listings a page at a time: ListObjectsV2 with continuation tokens, and
//! the paging both listings share ([`pages`]).
//!
//! Must never: fetch a page before the stream is polled for it, go on
//! after an error, or loop forever on a store that hands back the marker
//! it was given.

use std::future::Future;

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use http::Method;

use super::client::{Call, Client};
use super::error::UpstreamError;
use super::model::ObjectEntry;
use super::xml::{self, Page};

impl Client {
    /// The objects whose keys start with `prefix`, in key order, a page
    /// (at most the configured page size) at a time; each page is one
    /// request, made when the stream is polled for it.
    pub fn list_objects(
        &self,
        prefix: &str,
    ) -> BoxStream<'static, Result<Vec<ObjectEntry>, UpstreamError>> {
        let client = self.clone();
        let prefix = prefix.to_owned();
        pages(move |token: Option<String>| {
            let (client, prefix) = (client.clone(), prefix.clone());
            async move {
                let mut call = Call::bare(Method::GET, None)
                    .query("list-type", "2")
                    .query("prefix", prefix)
                    .query("max-keys", client.list_page_size().to_string());
                if let Some(t) = token {
                    call = call.query("continuation-token", t);
                }
                let (_, doc) = client.call_ok(call).await?;
                xml::object_page(&doc).map_err(UpstreamError::Protocol)
            }
        })
    }
}

enum Cursor<N> {
    Start,
    After(N),
    Done,
}

/// The pages `fetch` returns, each asked with the marker the previous one
/// gave (`None` first), until a page gives none or an error ends it.
pub(super) fn pages<T, N, F, Fut>(fetch: F) -> BoxStream<'static, Result<Vec<T>, UpstreamError>>
where
    T: Send + 'static,
    N: Clone + PartialEq + Send + 'static,
    F: FnMut(Option<N>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<T, N>, UpstreamError>> + Send + 'static,
{
    futures_util::stream::unfold((fetch, Cursor::Start), |(mut fetch, cursor)| async move {
        let asked = match cursor {
            Cursor::Done => return None,
            Cursor::Start => None,
            Cursor::After(n) => Some(n),
        };
        match fetch(asked.clone()).await {
            Err(e) => Some((Err(e), (fetch, Cursor::Done))),
            Ok(page) => {
                let next = match page.next {
                    None => Cursor::Done,
                    Some(n) if asked.as_ref() == Some(&n) => {
                        let e =
                            UpstreamError::Protocol("a listing page pointed back at itself".into());
                        return Some((Err(e), (fetch, Cursor::Done)));
                    }
                    Some(n) => Cursor::After(n),
                };
                Some((Ok(page.items), (fetch, next)))
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use futures_util::StreamExt;

    use super::*;

    /// What a fake store answers to each marker.
    type Script = Vec<(Option<u32>, Result<Page<u32, u32>, UpstreamError>)>;

    /// A fake store's pages: marker → (items, next marker).
    fn pager(
        script: Script,
        asked: Arc<Mutex<Vec<Option<u32>>>>,
    ) -> BoxStream<'static, Result<Vec<u32>, UpstreamError>> {
        let script = Arc::new(Mutex::new(script));
        pages(move |marker: Option<u32>| {
            let (script, asked) = (script.clone(), asked.clone());
            async move {
                asked.lock().unwrap().push(marker);
                let mut s = script.lock().unwrap();
                let i = s
                    .iter()
                    .position(|(m, _)| *m == marker)
                    .expect("a known marker");
                s.remove(i).1
            }
        })
    }

    fn page(items: &[u32], next: Option<u32>) -> Result<Page<u32, u32>, UpstreamError> {
        Ok(Page {
            items: items.to_vec(),
            next,
        })
    }

    #[tokio::test]
    async fn pages_follow_their_markers_lazily_to_the_end() {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let mut s = pager(
            vec![
                (None, page(&[1, 2], Some(2))),
                (Some(2), page(&[3, 4], Some(4))),
                (Some(4), page(&[5], None)),
            ],
            asked.clone(),
        );
        assert!(asked.lock().unwrap().is_empty(), "fetched before polled");
        assert_eq!(s.next().await.unwrap().unwrap(), [1, 2]);
        assert_eq!(*asked.lock().unwrap(), [None]);
        assert_eq!(s.next().await.unwrap().unwrap(), [3, 4]);
        assert_eq!(s.next().await.unwrap().unwrap(), [5]);
        assert!(s.next().await.is_none());
        assert_eq!(*asked.lock().unwrap(), [None, Some(2), Some(4)]);
    }

    #[tokio::test]
    async fn an_error_or_a_marker_pointing_back_ends_the_listing() {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let got: Vec<_> = pager(
            vec![
                (None, page(&[1], Some(1))),
                (Some(1), Err(UpstreamError::NotFound)),
            ],
            asked.clone(),
        )
        .collect()
        .await;
        assert_eq!(got, vec![Ok(vec![1]), Err(UpstreamError::NotFound)]);

        let got: Vec<_> = pager(
            vec![(None, page(&[1], Some(7))), (Some(7), page(&[2], Some(7)))],
            asked,
        )
        .collect()
        .await;
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0], Ok(vec![1]));
        assert!(matches!(got[1], Err(UpstreamError::Protocol(_))), "{got:?}");
    }
}
