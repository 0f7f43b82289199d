/*
 *  sampling_statistics.h  --  part of salpynn (GPL-2.0-or-later)
 *
 *  The learning statistics of sampling networks, from each network's spikes as
 *  (step, neuron) pairs sorted by step: spike counts, the overlaps of the
 *  neurons' active windows and the counts of the sampled states.  Shared by
 *  sampling_monitor (spikes it receives) and sampling_networks (spikes it makes),
 *  with StatisticsReadout: their common parameters (tau, the read-out span,
 *  n_events), their checks and the status entries of the statistics.
 */

#ifndef SALPYNN_SAMPLING_STATISTICS_H
#define SALPYNN_SAMPLING_STATISTICS_H

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "dictionary.h"
#include "exceptions.h"
#include "nest_time.h"

#include "salpynn_util.h"

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

/**
 * The statistics parameters of a node that reports them (tau, readout_start, readout_stop,
 * n_events) and the statistics last computed.  PyNEST reads the whole status around every
 * set, so the statistics are computed once per content: the spikes kept (their number and
 * how often they were forgotten), tau and the read-out span.
 */
class StatisticsReadout
{
public:
  struct Settings
  {
    double tau = 10.0;
    double readout_start = 0.0;
    double readout_stop = 0.0;
    bool forget = false; //!< n_events was set (to 0): forget the spikes kept
  };

  //! The settings in d over the current ones, checked; throws BadProperty naming model and
  //! the parameter.  Changes nothing: apply() does, once the node's own checks passed.
  Settings read( const Dictionary& d, const std::string& model ) const;

  void
  apply( const Settings& settings )
  {
    settings_ = settings;
    settings_.forget = false;
  }

  /**
   * Writes the parameters, n_events and the statistics (counts, overlap_first,
   * state_counts) of n-neuron networks; spikes() gives the spikes kept, per network sorted
   * by step, and is called only when the content changed since the last call.
   */
  template < typename SpikesFn >
  void write( Dictionary& d, long n, size_t n_events, long generation, SpikesFn spikes ) const;

private:
  Settings settings_;
  mutable std::vector< double > key_;
  mutable std::vector< long > counts_;
  mutable std::vector< double > first_;
  mutable std::vector< long > states_;
};

inline StatisticsReadout::Settings
StatisticsReadout::read( const Dictionary& d, const std::string& model ) const
{
  Settings s = settings_;
  long n_events = 0;
  d.update_value( "tau", s.tau );
  d.update_value( "readout_start", s.readout_start );
  d.update_value( "readout_stop", s.readout_stop );
  s.forget = d.update_value( "n_events", n_events );

  const double h = nest::Time::get_resolution().get_ms();
  const double tau_steps = s.tau / h;
  if ( not std::isfinite( s.tau ) or std::lround( tau_steps ) < 1
       or std::abs( tau_steps - std::round( tau_steps ) ) > 1e-6 )
  {
    throw nest::BadProperty( model + ": tau must be a positive multiple of the resolution ("
                             + format_number( h ) + " ms); got " + format_number( s.tau ) + " ms." );
  }
  for ( const auto& [ name, value ] : { std::pair< const char*, double >( "readout_start", s.readout_start ),
          std::pair< const char*, double >( "readout_stop", s.readout_stop ) } )
  {
    const double half_steps = 2.0 * value / h;
    if ( not std::isfinite( value ) or std::abs( half_steps - std::round( half_steps ) ) > 1e-6 )
    {
      throw nest::BadProperty( model + ": " + name + " must be a finite multiple of half the resolution ("
                               + format_number( h / 2.0 ) + " ms); got " + format_number( value ) + " ms." );
    }
  }
  if ( s.forget and n_events != 0 )
  {
    throw nest::BadProperty( model + ": n_events can only be set to 0 (forget the spikes); got "
                             + std::to_string( n_events ) + "." );
  }
  return s;
}

template < typename SpikesFn >
void
StatisticsReadout::write( Dictionary& d, long n, size_t n_events, long generation, SpikesFn spikes ) const
{
  d[ "tau" ] = settings_.tau;
  d[ "readout_start" ] = settings_.readout_start;
  d[ "readout_stop" ] = settings_.readout_stop;
  const std::vector< double > key = { static_cast< double >( n ), static_cast< double >( n_events ),
    static_cast< double >( generation ), settings_.tau, settings_.readout_start, settings_.readout_stop };
  if ( key != key_ )
  {
    const double h = nest::Time::get_resolution().get_ms();
    const long tau_steps = std::lround( settings_.tau / h );
    const auto& kept = spikes();
    count_spikes( kept, n, counts_ );
    window_overlaps( kept, n, tau_steps, h / 2.0, first_ );
    state_counts( kept, n, tau_steps, std::lround( 2.0 * settings_.readout_start / h ),
      std::lround( 2.0 * settings_.readout_stop / h ), states_ );
    key_ = key;
  }
  d[ "n_events" ] = static_cast< long >( n_events );
  d[ "counts" ] = counts_;
  d[ "overlap_first" ] = first_;
  d[ "state_counts" ] = states_;
}

} // namespace salpynn

#endif // SALPYNN_SAMPLING_STATISTICS_H
