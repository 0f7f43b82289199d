/*
 *  sampling_statistics.h  --  part of salpynn (GPL-2.0-or-later)
 *
 *  The learning statistics of sampling networks, from each network's spikes as
 *  (step, neuron) pairs sorted by step: spike counts, the overlaps of the
 *  neurons' active windows and the counts of the sampled states.  Shared by
 *  sampling_monitor (spikes it receives) and sampling_networks (spikes it makes).
 */

#ifndef SALPYNN_SAMPLING_STATISTICS_H
#define SALPYNN_SAMPLING_STATISTICS_H

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

namespace salpynn
{

//! One network's spikes, (step, neuron), sorted by step.
using NetworkSpikes = std::vector< std::pair< long, long > >;

//! counts[r * n + k]: spikes of neuron k of network r.
inline void
count_spikes( const std::vector< NetworkSpikes >& spikes, long n, std::vector< long >& counts )
{
  counts.assign( spikes.size() * static_cast< size_t >( n ), 0 );
  for ( size_t r = 0; r < spikes.size(); ++r )
  {
    for ( const auto& [ step, k ] : spikes[ r ] )
    {
      ++counts[ r * n + k ];
    }
  }
}

/**
 * first[r * n * n + i * n + j]: summed overlap (ms) of the windows [t, t + tau) of the spike
 * pairs of network r in which i fired before j (same step: half to each order).  Summed
 * exactly in half-steps, then converted with half_step_ms.
 */
inline void
window_overlaps( const std::vector< NetworkSpikes >& spikes, long n, long tau_steps, double half_step_ms,
  std::vector< double >& first )
{
  const size_t nn = static_cast< size_t >( n * n );
  first.assign( spikes.size() * nn, 0.0 );
  std::vector< long > half_steps( nn );
  for ( size_t r = 0; r < spikes.size(); ++r )
  {
    std::fill( half_steps.begin(), half_steps.end(), 0 );
    const auto& mine = spikes[ r ];
    for ( size_t p = 1; p < mine.size(); ++p )
    {
      const auto [ step_j, j ] = mine[ p ];
      for ( size_t q = p; q-- > 0; )
      {
        const auto [ step_i, i ] = mine[ q ];
        const long ds = step_j - step_i;
        if ( ds >= tau_steps )
        {
          break;
        }
        if ( i == j )
        {
          continue;
        }
        if ( ds == 0 )
        {
          half_steps[ i * n + j ] += tau_steps; // half of 2 tau_steps to each order
          half_steps[ j * n + i ] += tau_steps;
        }
        else
        {
          half_steps[ i * n + j ] += 2 * ( tau_steps - ds );
        }
      }
    }
    for ( size_t c = 0; c < nn; ++c )
    {
      first[ r * nn + c ] = static_cast< double >( half_steps[ c ] ) * half_step_ms;
    }
  }
}

/**
 * states[r * 2**n + s]: how often network r was in state s at the read-outs, every tau / 2
 * (tau_steps half-steps) from start_half to before stop_half (times in half-steps); neuron k
 * is bit k and is 1 at time t if it spiked in (t - tau, t].
 */
inline void
state_counts( const std::vector< NetworkSpikes >& spikes, long n, long tau_steps, long start_half,
  long stop_half, std::vector< long >& states )
{
  const size_t n_states = size_t( 1 ) << n;
  states.assign( spikes.size() * n_states, 0 );
  std::vector< long > last( static_cast< size_t >( n ) );
  for ( size_t r = 0; r < spikes.size(); ++r )
  {
    const auto& mine = spikes[ r ];
    std::fill( last.begin(), last.end(), std::numeric_limits< long >::min() / 4 );
    size_t p = 0;
    for ( long t = start_half; t < stop_half; t += tau_steps )
    {
      while ( p < mine.size() and 2 * mine[ p ].first <= t )
      {
        last[ mine[ p ].second ] = mine[ p ].first;
        ++p;
      }
      size_t state = 0;
      for ( long k = 0; k < n; ++k )
      {
        if ( t - 2 * last[ k ] < 2 * tau_steps )
        {
          state |= size_t( 1 ) << k;
        }
      }
      ++states[ r * n_states + state ];
    }
  }
}

} // namespace salpynn

#endif // SALPYNN_SAMPLING_STATISTICS_H
